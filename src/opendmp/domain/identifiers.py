"""Identifiers of patients (INS), professionals (IdNat_PS) and structures (Struct_IdNat).

Every parser normalises its input, checks the format and the check key, and raises
``InvalidIdentifier`` with a stable code and a message that says exactly what is wrong.
Messages quote the faulty *part* (a month, a key), never the whole INS: an INS is health
data's key and must not end up in logs through an error message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from opendmp.domain.errors import InvalidIdentifier

# Assigning authorities of the INS (docs/rules.md §1). Synthetic data uses the test/demo OIDs.
INS_NIR_OID = "1.2.250.1.213.1.4.8"
INS_NIA_OID = "1.2.250.1.213.1.4.9"
INS_NIR_TEST_OID = "1.2.250.1.213.1.4.10"
INS_NIR_DEMO_OID = "1.2.250.1.213.1.4.11"
INS_OIDS: frozenset[str] = frozenset({INS_NIR_OID, INS_NIA_OID, INS_NIR_TEST_OID, INS_NIR_DEMO_OID})
TEST_INS_OIDS: frozenset[str] = frozenset({INS_NIR_TEST_OID, INS_NIR_DEMO_OID})

IDNAT_PS_OID = "1.2.250.1.71.4.2.1"
STRUCT_IDNAT_OID = "1.2.250.1.71.4.2.2"

_URN_OID = "urn:oid:"

# ---------------------------------------------------------------------------------------
# INS
# ---------------------------------------------------------------------------------------

# 1/2 are definitive numbers; 3, 7, 8 are provisional ones (foreign-born persons being
# registered, NIA), which the DMP must accept (docs/rules.md §1).
_INS_SEX_DIGITS = frozenset("12378")
# Corsica: the department is read as a number after 2A -> 19 and 2B -> 18 (INSEE rule).
_CORSICA = {"2A": "19", "2B": "18"}
_INS_LENGTH = 15


def _numeric_nir(nir13: str) -> int:
    department = nir13[5:7]
    digits = nir13[:5] + _CORSICA.get(department, department) + nir13[7:]
    return int(digits)


def compute_ins_key(nir13: str) -> int:
    """Return the 2-digit key of a 13-character NIR/NIA: 97 − (N mod 97)."""
    nir13 = nir13.upper()
    if len(nir13) != 13:
        raise InvalidIdentifier(
            f"a NIR without key must have 13 characters, got {len(nir13)}", code="invalid-ins"
        )
    department = nir13[5:7]
    rest = nir13[:5] + nir13[7:]
    if not (
        rest.isascii()
        and rest.isdigit()
        and ((department.isascii() and department.isdigit()) or department in _CORSICA)
    ):
        raise InvalidIdentifier(
            "a NIR contains only digits, except 2A/2B for the department", code="invalid-ins"
        )
    return 97 - _numeric_nir(nir13) % 97


def with_ins_key(nir13: str) -> str:
    """Return the 15-character INS made of ``nir13`` and its key (for test-data factories)."""
    nir13 = nir13.upper()
    return f"{nir13}{compute_ins_key(nir13):02d}"


def _month_is_valid(month: int) -> bool:
    # 20–42 and 50–99 appear for persons whose civil record is incomplete (docs/rules.md §1).
    return 1 <= month <= 12 or 20 <= month <= 42 or month >= 50


def _check_ins_value(value: str) -> None:
    if len(value) != _INS_LENGTH:
        raise InvalidIdentifier(
            f"INS must have 15 characters (13 + 2-digit key), got {len(value)}",
            code="invalid-ins",
        )
    if not value.isascii():
        raise InvalidIdentifier("INS contains non-ASCII characters", code="invalid-ins")
    sex, year, month = value[0], value[1:3], value[3:5]
    department, commune, order, key = value[5:7], value[7:10], value[10:13], value[13:15]
    if sex not in _INS_SEX_DIGITS:
        raise InvalidIdentifier(
            f"INS sex digit {sex!r} is not valid (expected 1 or 2, or 3, 7, 8 when provisional)",
            code="invalid-ins",
        )
    if not year.isdigit():
        raise InvalidIdentifier(f"INS year {year!r} is not 2 digits", code="invalid-ins")
    if not month.isdigit():
        raise InvalidIdentifier(f"INS month {month!r} is not 2 digits", code="invalid-ins")
    if not _month_is_valid(int(month)):
        raise InvalidIdentifier(f"INS month {month} is not valid", code="invalid-ins")
    if not (department.isdigit() or department in _CORSICA):
        raise InvalidIdentifier(
            f"INS department {department!r} is not 2 digits, 2A or 2B", code="invalid-ins"
        )
    if not commune.isdigit():
        raise InvalidIdentifier(f"INS commune {commune!r} is not 3 digits", code="invalid-ins")
    if not order.isdigit():
        raise InvalidIdentifier(f"INS order number {order!r} is not 3 digits", code="invalid-ins")
    if not key.isdigit():
        raise InvalidIdentifier(f"INS key {key!r} is not 2 digits", code="invalid-ins")
    computed = compute_ins_key(value[:13])
    if int(key) != computed:
        raise InvalidIdentifier(
            f"INS key {key} does not match the computed key {computed:02d}", code="invalid-ins"
        )


def _check_ins_oid(oid: str) -> None:
    if oid not in INS_OIDS:
        known = ", ".join(sorted(INS_OIDS))
        raise InvalidIdentifier(
            f"INS assigning authority {oid!r} is not known (expected one of {known})",
            code="invalid-ins-oid",
        )


@dataclass(frozen=True)
class Ins:
    """A patient's matricule INS: 13 characters + 2-digit key, and its assigning authority.

    Construction validates, so an ``Ins`` that exists is well formed. Use ``parse_ins`` for
    untrusted input (it also strips spaces and dots).
    """

    value: str
    oid: str

    def __post_init__(self) -> None:
        _check_ins_oid(self.oid)
        _check_ins_value(self.value)

    @property
    def is_test(self) -> bool:
        return self.oid in TEST_INS_OIDS

    @property
    def kind(self) -> Literal["NIR", "NIA"]:
        return "NIA" if self.oid == INS_NIA_OID else "NIR"

    @property
    def system(self) -> str:
        """FHIR ``Identifier.system``."""
        return _URN_OID + self.oid

    def masked(self) -> str:
        """The INS for logs: first 7 characters, one star per hidden character, the key."""
        return self.value[:7] + "*" * (_INS_LENGTH - 9) + self.value[-2:]

    def __str__(self) -> str:
        return f"{self.oid}|{self.value}"


def _normalise_ins(value: str) -> str:
    # Humans write INS with spaces or dots between the groups ("2 79 03 51 215 189 89").
    return re.sub(r"[\s.]", "", value).upper()


def parse_ins(value: str, oid: str) -> Ins:
    """Parse and check an INS issued by ``oid``; raise ``InvalidIdentifier`` when invalid."""
    return Ins(_normalise_ins(value), _strip_urn(oid.strip()))


def _strip_urn(oid: str) -> str:
    return oid[len(_URN_OID) :] if oid.lower().startswith(_URN_OID) else oid


def parse_ins_reference(text: str, default_oid: str) -> Ins:
    """Parse ``"OID|VALUE"``, ``"urn:oid:OID|VALUE"`` or a bare ``"VALUE"`` (``default_oid``)."""
    oid, separator, value = text.strip().rpartition("|")
    if not separator:
        return parse_ins(value, default_oid)
    if not oid.strip():
        raise InvalidIdentifier("INS reference has an empty OID before '|'", code="invalid-ins-oid")
    return parse_ins(value, oid)


# ---------------------------------------------------------------------------------------
# Luhn (RPPS, FINESS, SIREN, SIRET)
# ---------------------------------------------------------------------------------------


def _luhn_sum(digits: str, *, double_last: bool) -> int:
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if (index % 2 == 0) == double_last:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total


def _require_digits(digits: str) -> None:
    if not digits or not (digits.isascii() and digits.isdigit()):
        raise InvalidIdentifier(
            "a Luhn computation needs a non-empty string of digits", code="invalid-identifier"
        )


def luhn_check_digit(digits: str) -> int:
    """Return the Luhn digit to append to ``digits``."""
    _require_digits(digits)
    # The check digit will sit at the right, so the current last digit is doubled.
    return (10 - _luhn_sum(digits, double_last=True) % 10) % 10


def luhn_is_valid(digits: str) -> bool:
    """Tell whether ``digits`` (check digit included, at the right) passes the Luhn test."""
    if not digits or not (digits.isascii() and digits.isdigit()):
        return False
    return _luhn_sum(digits, double_last=False) % 10 == 0


# ---------------------------------------------------------------------------------------
# Professionals: IdNat_PS
# ---------------------------------------------------------------------------------------

ProfessionalKind = Literal["RPPS", "ADELI", "STRUCTURE_INTERNAL"]

_RPPS_RE = re.compile(r"^[0-9]{11}$")
_ADELI_RE = re.compile(r"^[0-9A-Z]{9}$")
# 3 + structure id (FINESS or SIREN: 9 characters; SIRET: 14) + usually "/" + internal id.
# The part after the structure id is the employer's own, so it is free form.
_INTERNAL_RE = re.compile(r"^[0-9A-Z]{9}[^\s]*$")
_IDNAT_MAX_LENGTH = 64
# Test CPS cards carry RPPS numbers starting 997 (IdNat_PS 8997…).
_TEST_RPPS_PREFIX = "997"


@dataclass(frozen=True)
class ProfessionalId:
    """A parsed IdNat_PS. ``key_valid`` is False only when a key was checked and failed."""

    idnat: str
    prefix: str
    number: str
    kind: ProfessionalKind
    key_valid: bool
    warnings: tuple[str, ...]

    @property
    def is_test_card(self) -> bool:
        return self.kind == "RPPS" and self.number.startswith(_TEST_RPPS_PREFIX)

    @property
    def system(self) -> str:
        return _URN_OID + IDNAT_PS_OID


def _rpps_key_problem(rpps: str) -> str | None:
    computed = luhn_check_digit(rpps[:10])
    if int(rpps[10]) == computed:
        return None
    return f"RPPS key {rpps[10]} does not match the computed key {computed}"


def parse_idnat_ps(value: str, *, strict_key: bool = True) -> ProfessionalId:
    """Parse an IdNat_PS: ``8`` + RPPS, ``0`` + ADELI or ``3`` + structure's internal id.

    With ``strict_key=False`` an RPPS whose Luhn key does not check is accepted with a
    warning: the CI-SIS example documents carry such numbers, and a bad key on a document's
    author must not make the whole deposit fail.
    """
    idnat = value.strip().upper()
    if not idnat:
        raise InvalidIdentifier("IdNat_PS is empty", code="invalid-idnat-ps")
    if len(idnat) > _IDNAT_MAX_LENGTH:
        raise InvalidIdentifier(
            f"IdNat_PS is longer than {_IDNAT_MAX_LENGTH} characters", code="invalid-idnat-ps"
        )
    prefix, number = idnat[0], idnat[1:]
    if prefix == "8":
        if not _RPPS_RE.match(number):
            raise InvalidIdentifier(
                f"RPPS must have 11 digits after the prefix 8, got {number!r}", code="invalid-rpps"
            )
        problem = _rpps_key_problem(number)
        if problem is not None and strict_key:
            raise InvalidIdentifier(problem, code="invalid-rpps")
        return ProfessionalId(
            idnat=idnat,
            prefix=prefix,
            number=number,
            kind="RPPS",
            key_valid=problem is None,
            warnings=() if problem is None else (problem,),
        )
    if prefix == "0":
        # ADELI numbers have no public, uniformly applied key: only the format is checked.
        if not _ADELI_RE.match(number):
            raise InvalidIdentifier(
                f"ADELI must have 9 letters or digits after the prefix 0, got {len(number)}"
                " characters",
                code="invalid-idnat-ps",
            )
        return ProfessionalId(idnat, prefix, number, "ADELI", key_valid=True, warnings=())
    if prefix == "3":
        if not _INTERNAL_RE.match(number):
            raise InvalidIdentifier(
                "an internal IdNat_PS must be 3 + a structure id of at least 9 letters or digits"
                " (FINESS, SIREN or SIRET), then an optional '/' and internal id, without spaces",
                code="invalid-idnat-ps",
            )
        return ProfessionalId(
            idnat, prefix, number, "STRUCTURE_INTERNAL", key_valid=True, warnings=()
        )
    raise InvalidIdentifier(
        f"IdNat_PS prefix {prefix!r} is not known (expected 8 for RPPS, 0 for ADELI,"
        " 3 for a structure's internal id)",
        code="invalid-idnat-ps",
    )


# ---------------------------------------------------------------------------------------
# Structures: FINESS and Struct_IdNat
# ---------------------------------------------------------------------------------------

_FINESS_RE = re.compile(r"^(?:[0-9]{2}|2A|2B)[0-9]{7}$")


def parse_finess(value: str) -> str:
    """Check a FINESS number (9 characters, Luhn key) and return it normalised.

    Corsican numbers start with 2A/2B (department). For the key we read them as 19/18,
    the INSEE rule used for the NIR, and run Luhn on the resulting 10 digits: the FINESS
    documentation does not say otherwise and this keeps one rule for both identifiers.
    """
    finess = value.strip().upper()
    if not _FINESS_RE.match(finess):
        raise InvalidIdentifier(
            f"FINESS must have 9 digits (2A/2B allowed as department), got {finess!r}",
            code="invalid-finess",
        )
    digits = _CORSICA.get(finess[:2], finess[:2]) + finess[2:]
    if not luhn_is_valid(digits):
        computed = luhn_check_digit(digits[:-1])
        raise InvalidIdentifier(
            f"FINESS key {finess[-1]} does not match the computed key {computed}",
            code="invalid-finess",
        )
    return finess


StructureKind = Literal["FINESS", "SIREN", "SIRET", "RPPS_RANK"]

# 4 + RPPS of the professional (11 digits) + rank of the practice (1 to 3 digits).
_RPPS_RANK_RE = re.compile(r"^[0-9]{12,14}$")


@dataclass(frozen=True)
class StructureId:
    """A parsed Struct_IdNat: prefix + national number of the structure."""

    idnat: str
    prefix: str
    number: str
    kind: StructureKind

    @property
    def system(self) -> str:
        return _URN_OID + STRUCT_IDNAT_OID


def _check_luhn_number(number: str, name: str, length: int) -> None:
    if len(number) != length or not (number.isascii() and number.isdigit()):
        raise InvalidIdentifier(
            f"{name} must have {length} digits, got {number!r}", code="invalid-struct-idnat"
        )
    if not luhn_is_valid(number):
        computed = luhn_check_digit(number[:-1])
        raise InvalidIdentifier(
            f"{name} key {number[-1]} does not match the computed key {computed}",
            code="invalid-struct-idnat",
        )


def parse_struct_idnat(value: str) -> StructureId:
    """Parse a Struct_IdNat: ``1`` + FINESS, ``2`` + SIREN, ``3`` + SIRET, ``4`` + RPPS rank."""
    idnat = value.strip().upper()
    if not idnat:
        raise InvalidIdentifier("Struct_IdNat is empty", code="invalid-struct-idnat")
    prefix, number = idnat[0], idnat[1:]
    if prefix == "1":
        try:
            parse_finess(number)
        except InvalidIdentifier as error:
            raise InvalidIdentifier(error.message, code="invalid-struct-idnat") from None
        return StructureId(idnat, prefix, number, "FINESS")
    if prefix == "2":
        _check_luhn_number(number, "SIREN", 9)
        return StructureId(idnat, prefix, number, "SIREN")
    if prefix == "3":
        _check_luhn_number(number, "SIRET", 14)
        return StructureId(idnat, prefix, number, "SIRET")
    if prefix == "4":
        # No key check: the rank is appended to the RPPS and has no key of its own.
        if not _RPPS_RANK_RE.match(number):
            raise InvalidIdentifier(
                "an RPPS rank must be 11 RPPS digits followed by a 1- to 3-digit rank",
                code="invalid-struct-idnat",
            )
        return StructureId(idnat, prefix, number, "RPPS_RANK")
    raise InvalidIdentifier(
        f"Struct_IdNat prefix {prefix!r} is not known (expected 1 FINESS, 2 SIREN, 3 SIRET,"
        " 4 RPPS rank)",
        code="invalid-struct-idnat",
    )
