"""Reading a VIHF's attributes (auth/vihf_format.py): the forms accepted, the ones refused.
No signature here: tests/integration/test_vihf.py covers signature, trust and replay."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from opendmp.auth import vihf_format as f
from opendmp.auth.vihf import find_assertion
from opendmp.domain.actors import AccessMode
from tests.auth_support import GP, NOW
from tests.vihf_support import PATIENT, WSSE, attribute, security_header, unsigned


def read(assertion: etree._Element, now: dt.datetime = NOW) -> f.Vihf:
    return f.read_vihf(assertion, now=now, audience="opendmp", signed=False)


def refusal(assertion: etree._Element, now: dt.datetime = NOW) -> f.VihfError:
    with pytest.raises(f.VihfError) as caught:
        read(assertion, now)
    return caught.value


def set_values(assertion: etree._Element, name: str, *texts: str) -> None:
    """Replace the values of attribute ``name`` by plain-text values."""
    element = attribute(assertion, name)
    for value in list(element):
        element.remove(value)
    for text in texts:
        etree.SubElement(element, f"{{{f.SAML2}}}AttributeValue").text = text


def test_the_built_vihf_reads_back() -> None:
    vihf = read(unsigned())
    assert (vihf.idnat, vihf.profession, vihf.specialty) == (GP, "10", "SM54")
    assert (vihf.purpose, vihf.justification, vihf.patient_ins) == (
        AccessMode.NORMAL,
        None,
        str(PATIENT),
    )
    assert vihf.not_before == NOW and vihf.signed is False


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (("10^1.2.250.1.71.1.2.7", "SM54^1.2.250.1.71.4.2.5"), ("10", "SM54")),
        (("10/SM54",), ("10", "SM54")),
        (("60",), ("60", None)),
        (("SM54^1.2.250.1.71.4.2.5", "21^1.2.250.1.71.1.2.7"), ("21", "SM54")),
    ],
)
def test_role_text_forms(texts: tuple[str, ...], expected: tuple[str, str | None]) -> None:
    assertion = unsigned()
    set_values(assertion, f.ROLE, *texts)
    vihf = read(assertion)
    assert (vihf.profession, vihf.specialty) == expected


@pytest.mark.parametrize(
    ("texts", "code"),
    [
        (("10^1.2.3.4",), "vihf-unknown-role"),
        (("10/SM54", "21"), "vihf-invalid-role"),
        (("SM54^1.2.250.1.71.4.2.5",), "vihf-invalid-role"),
        (("^1.2.250.1.71.1.2.7",), "vihf-invalid-code"),
    ],
)
def test_role_refusals(texts: tuple[str, ...], code: str) -> None:
    assertion = unsigned()
    set_values(assertion, f.ROLE, *texts)
    assert refusal(assertion).code == code


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("normal", AccessMode.NORMAL),
        ("BRIS_DE_GLACE", AccessMode.BREAK_GLASS),
        ("break-glass", AccessMode.BREAK_GLASS),
        ("CENTRE_DE_REGULATION", AccessMode.REGULATION),
        ("regulation", AccessMode.REGULATION),
    ],
)
def test_purposes_of_use(text: str, mode: AccessMode) -> None:
    assertion = unsigned(reason="urgence vitale")
    set_values(assertion, f.PURPOSE, text)
    vihf = read(assertion)
    assert (vihf.purpose, vihf.justification) == (mode, "urgence vitale")


def test_an_unknown_purpose_is_refused() -> None:
    assertion = unsigned()
    set_values(assertion, f.PURPOSE, "curiosity")
    assert refusal(assertion).code == "vihf-invalid-purpose"


def test_the_patient_may_also_be_given_as_oid_bar_value() -> None:
    assertion = unsigned()
    set_values(assertion, f.RESOURCE_ID, f"{PATIENT.oid}|{PATIENT.value}")
    assert read(assertion).patient_ins == str(PATIENT)


@pytest.mark.parametrize(
    "text",
    [
        PATIENT.value,
        f"{PATIENT.value}^^^&&ISO",
        f"{PATIENT.value[:-2]}00^^^&{PATIENT.oid}&ISO",
        f"{PATIENT.value}^^^&1.2.3&ISO",
    ],
)
def test_a_bad_patient_is_refused(text: str) -> None:
    assertion = unsigned()
    set_values(assertion, f.RESOURCE_ID, text)
    assert refusal(assertion).code == "vihf-invalid-patient"


@pytest.mark.parametrize(
    "stamp",
    ["2026-03-01T09:10:00", "soon", "", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+01:00"],
)
def test_times_must_be_xs_datetimes_with_a_zone(stamp: str) -> None:
    assertion = unsigned()
    assertion.find(f"{{{f.SAML2}}}Conditions").set("NotOnOrAfter", stamp)  # type: ignore[union-attr]
    assert refusal(assertion).code in {"vihf-invalid-time", "vihf-missing-conditions"}


def test_a_time_with_an_offset_is_read_as_utc() -> None:
    assertion = unsigned()
    conditions = assertion.find(f"{{{f.SAML2}}}Conditions")
    assert conditions is not None
    conditions.set("NotOnOrAfter", "2026-03-01T10:05:00+01:00")
    assert read(assertion).not_on_or_after == NOW + dt.timedelta(minutes=5)


def test_the_clock_skew_is_one_minute() -> None:
    assertion = unsigned()
    assert read(assertion, NOW + dt.timedelta(minutes=10, seconds=59)).assertion_id
    assert refusal(assertion, NOW + dt.timedelta(minutes=11)).code == "vihf-expired"
    early = unsigned(now=NOW + dt.timedelta(seconds=59))
    assert read(early).assertion_id
    later = unsigned(now=NOW + dt.timedelta(seconds=61))
    assert refusal(later).code == "vihf-not-yet-valid"


def test_an_attribute_given_twice_is_refused() -> None:
    assertion = unsigned()
    statement = assertion.find(f"{{{f.SAML2}}}AttributeStatement")
    assert statement is not None
    statement.append(etree.fromstring(etree.tostring(attribute(assertion, f.STRUCTURE))))
    assert refusal(assertion).code == "vihf-duplicate-attribute"


def test_a_subject_that_is_not_an_idnat_is_refused() -> None:
    assertion = unsigned()
    assertion.find(f"{{{f.SAML2}}}Subject/{{{f.SAML2}}}NameID").text = "someone"  # type: ignore[union-attr]
    assert refusal(assertion).code == "vihf-invalid-subject"


def test_an_overlong_value_is_refused() -> None:
    assertion = unsigned()
    set_values(assertion, f.SOFTWARE_NAME, "x" * 300)
    assert refusal(assertion).code == "vihf-value-too-long"


def test_the_error_reads_as_english() -> None:
    error = f.refuse("vihf-expired", "the VIHF has expired")
    assert (str(error), error.code) == ("the VIHF has expired", "vihf-expired")


def test_find_assertion_takes_the_one_assertion_of_the_security_header() -> None:
    header = security_header(unsigned())
    assert find_assertion(header).tag == f"{{{f.SAML2}}}Assertion"
    with pytest.raises(f.VihfError) as caught:
        find_assertion(security_header())
    assert caught.value.code == "vihf-missing"
    with pytest.raises(f.VihfError) as caught:
        find_assertion(etree.Element(f"{{{WSSE}}}Other"))
    assert caught.value.code == "vihf-missing"
