"""Notification wording (docs/rules.md §5): French first, English variant, and nothing in an
e-mail beyond who accessed, when and in which mode."""

from __future__ import annotations

import pytest

from opendmp.notify.messages import KINDS, format_time, language_of, render

AT = "2026-03-01T09:05:00+00:00"  # 10 h 05 in Paris (winter time)
ACCESS = {
    "who": "TESTPRO1 Dominique",
    "profession": "Médecin",
    "organization": "Centre hospitalier fictif",
    "at": AT,
    "mode": "normal",
}
PAYLOADS: dict[str, dict[str, str]] = {
    "record-created": {"channel": "desk", "at": AT},
    "access": ACCESS,
    "emergency-access": {**ACCESS, "mode": "break-glass"},
    "new-document": {"at": AT},
    "password-reset": {"at": AT, "code": "48213579"},
    "email-proof": {"at": AT, "code": "30571946"},
    "login-reminder": {"at": AT, "login": "K7QX2M9PLA"},
    "email-change": {"at": AT, "code": "61930427"},
    "opt-out-notice": {"at": AT, "code": "K7QX-2M9P-LA4B-8DZR", "url": "https://dmp.example/o"},
    "delegation-invitation": {
        "at": AT,
        "until": "2026-03-15T09:05:00+00:00",
        "link": "https://dmp.example/patient/invitation/abcdefghijklmnopqrstuvwx",
        "role": "caregiver",
    },
    "delegation-accepted": {
        "at": AT,
        "invited_at": "2026-02-27T16:00:00+00:00",
        "role": "caregiver",
    },
    "delegation-refused": {
        "at": AT,
        "invited_at": "2026-02-27T16:00:00+00:00",
        "role": "representative",
    },
    "email-changed": {"at": AT},
}


# --- refusals -------------------------------------------------------------------------------


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown notification kind"):
        render("lottery-win", "fr", {"at": AT})


def test_an_audience_a_kind_has_no_wording_for_is_refused() -> None:
    with pytest.raises(ValueError, match="audience"):
        render("new-document", "fr", {"at": AT, "audience": "treating-doctor"})


def test_an_unknown_access_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="access mode"):
        render("access", "fr", {**ACCESS, "mode": "backdoor"})


def test_an_emergency_access_without_its_mode_is_refused() -> None:
    payload = {k: v for k, v in PAYLOADS["emergency-access"].items() if k != "mode"}
    with pytest.raises(ValueError, match="mode"):
        render("emergency-access", "fr", payload)


@pytest.mark.parametrize("kind", KINDS)
def test_a_message_without_its_time_is_refused(kind: str) -> None:
    payload = {k: v for k, v in PAYLOADS[kind].items() if k != "at"}
    with pytest.raises(ValueError, match="'at'"):
        render(kind, "fr", payload)


@pytest.mark.parametrize("at", ["yesterday", "2026-03-01T09:05:00"])
def test_a_time_that_is_not_aware_iso_8601_is_refused(at: str) -> None:
    with pytest.raises(ValueError):
        render("new-document", "fr", {"at": at})


def test_an_access_without_the_professional_is_refused() -> None:
    with pytest.raises(ValueError, match="'who'"):
        render("access", "fr", {**ACCESS, "who": ""})


# --- wording --------------------------------------------------------------------------------


def test_times_are_told_in_paris_time_in_both_languages() -> None:
    assert format_time(AT, "fr") == "1er mars 2026 à 10 h 05 (heure de Paris)"
    assert format_time("2026-07-14T20:30:00+00:00", "fr") == (
        "14 juillet 2026 à 22 h 30 (heure de Paris)"
    )
    assert format_time(AT, "en") == "1 March 2026 at 10:05 (Paris time)"


@pytest.mark.parametrize(
    ("language", "expected"),
    [("fr", "fr"), ("en", "en"), ("en-GB", "en"), ("de", "fr"), ("", "fr")],
)
def test_unknown_languages_fall_back_to_french(language: str, expected: str) -> None:
    assert language_of(language) == expected


def test_the_creation_message_tells_when_and_through_which_channel() -> None:
    subject, body = render("record-created", "fr", PAYLOADS["record-created"])
    assert subject == "Votre dossier médical partagé (DMP) a été créé"
    assert "créé le 1er mars 2026 à 10 h 05 (heure de Paris) à l'accueil d'un établissement" in (
        body
    )
    assert "aucune donnée de santé" in body


def test_the_login_reminder_and_the_address_change_carry_what_they_are_for() -> None:
    subject, body = render("login-reminder", "fr", PAYLOADS["login-reminder"])
    assert subject == "Votre identifiant DMP" and "Votre identifiant : K7QX2M9PLA" in body
    subject, body = render("email-change", "en", PAYLOADS["email-change"])
    assert "valid for 15 minutes: 61930427" in body and "61930427" not in subject
    with pytest.raises(ValueError, match="'login'"):
        render("login-reminder", "fr", {"at": AT})


def test_the_answer_to_an_invitation_names_the_invitation_by_its_role_and_date() -> None:
    subject, body = render("delegation-accepted", "fr", PAYLOADS["delegation-accepted"])
    assert subject == "Votre invitation a été acceptée"
    assert (
        "L'invitation à devenir votre aidant que vous avez envoyée le 27 février 2026 à 17 h 00 "
        "(heure de Paris) a été acceptée le 1er mars 2026" in " ".join(body.split())
    )
    subject, body = render("delegation-refused", "en", PAYLOADS["delegation-refused"])
    assert subject == "Your invitation was refused"
    assert "to become the minor's legal representative that you sent on 27 February" in body
    with pytest.raises(ValueError, match="'invited_at'"):
        render("delegation-accepted", "fr", {"at": AT, "role": "caregiver"})
    with pytest.raises(ValueError, match="role"):
        render("delegation-refused", "fr", {**PAYLOADS["delegation-refused"], "role": "boss"})


def test_the_old_address_is_told_of_a_change_and_what_to_do_if_it_was_not_them() -> None:
    subject, body = render("email-changed", "fr", PAYLOADS["email-changed"])
    assert subject == "L'adresse e-mail de votre espace patient DMP a été changée"
    assert "Le 1er mars 2026 à 10 h 05 (heure de Paris)" in body
    assert "Si ce n'est pas vous" in body and "Mot de passe oublié" in body
    assert "accueil d'un établissement de santé" in body
    subject, body = render("email-changed", "en", PAYLOADS["email-changed"])
    assert "If it was not you" in body and "Forgotten password" in body


def test_the_creation_message_in_english() -> None:
    subject, body = render("record-created", "en", PAYLOADS["record-created"])
    assert subject == "Your shared medical record (DMP) has been created"
    assert "created on 1 March 2026 at 10:05 (Paris time) at an admission desk" in body
    assert "contains no health data" in body


def test_the_access_message_tells_who_when_and_in_which_mode() -> None:
    subject, body = render("access", "fr", ACCESS)
    assert subject == "Un professionnel a accédé à votre DMP"
    assert "Qui : TESTPRO1 Dominique" in body
    assert "Profession : Médecin" in body
    assert "Structure : Centre hospitalier fictif" in body
    assert "Quand : 1er mars 2026 à 10 h 05 (heure de Paris)" in body
    assert "Mode d'accès : accès normal" in body


def test_the_access_message_in_english() -> None:
    subject, body = render("access", "en", ACCESS)
    assert subject == "A professional accessed your DMP"
    assert "Who: TESTPRO1 Dominique" in body
    assert "Organisation: Centre hospitalier fictif" in body
    assert "Access mode: normal access" in body


def test_a_professional_without_organisation_gets_no_empty_line() -> None:
    _, body = render("access", "fr", {**ACCESS, "organization": ""})
    assert "Structure" not in body


def test_the_emergency_message_to_the_patient_names_the_mode() -> None:
    subject, body = render("emergency-access", "fr", PAYLOADS["emergency-access"])
    assert subject == "Accès en urgence à votre DMP"
    assert "Mode d'accès : urgence, « bris de glace »" in body
    assert "toujours informé" in body


def test_the_emergency_message_by_the_regulation_centre() -> None:
    _, body = render("emergency-access", "en", {**ACCESS, "mode": "regulation"})
    assert "Access mode: emergency, medical regulation centre (SAMU – Centre 15)" in body


def test_the_treating_doctor_gets_another_wording_for_an_emergency_access() -> None:
    payload = {**PAYLOADS["emergency-access"], "audience": "treating-doctor"}
    subject, body = render("emergency-access", "fr", payload)
    patient_subject, patient_body = render("emergency-access", "fr", PAYLOADS["emergency-access"])
    assert subject == "Accès en urgence au DMP d'un de vos patients"
    assert subject != patient_subject
    assert "médecin traitant DMP" in body
    assert "Qui : TESTPRO1 Dominique" in body
    assert body != patient_body
    en_subject, en_body = render("emergency-access", "en", payload)
    assert en_subject == "Emergency access to the DMP of one of your patients"
    assert "treating doctor" in en_body


def test_the_new_document_message_tells_only_when() -> None:
    subject, body = render(
        "new-document",
        "fr",
        {"at": AT, "title": "Compte rendu d'IRM", "type": "18748-4"},
    )
    assert subject == "Nouveau document dans votre DMP"
    assert "ajouté à votre dossier médical partagé (DMP) le 1er mars 2026" in body
    assert "IRM" not in body
    assert "18748-4" not in body


def test_the_justification_of_an_emergency_access_is_never_written() -> None:
    payload = {**PAYLOADS["emergency-access"], "justification": "coma diabétique"}
    for language in ("fr", "en"):
        for audience in ("patient", "treating-doctor"):
            subject, body = render("emergency-access", language, {**payload, "audience": audience})
            assert "diabétique" not in subject + body


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("language", ["fr", "en"])
def test_subjects_carry_no_payload_value(kind: str, language: str) -> None:
    subject, _ = render(kind, language, PAYLOADS[kind])
    for value in PAYLOADS[kind].values():
        assert value not in subject
    assert "\n" not in subject


def test_names_cannot_inject_lines() -> None:
    _, body = render("access", "fr", {**ACCESS, "who": "Dr Faux\nMode d'accès : normal"})
    assert "Qui : Dr Faux Mode d'accès : normal\n" in body
    mode_lines = [line for line in body.splitlines() if line.startswith("  Mode d'accès")]
    assert mode_lines == ["  Mode d'accès : accès normal"]


def test_the_password_reset_message_carries_the_code_and_nothing_else() -> None:
    subject, body = render("password-reset", "fr", PAYLOADS["password-reset"])
    assert "48213579" not in subject
    assert "Votre code, valable 15 minutes : 48213579" in body
    with pytest.raises(ValueError, match="'code'"):
        render("password-reset", "en", {"at": AT})


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_opt_out_notice_gives_the_date_the_code_and_the_way_to_object(language: str) -> None:
    payload = PAYLOADS["opt-out-notice"]
    _, body = render("opt-out-notice", language, payload)
    assert payload["code"] in body and payload["url"] in body
    assert ("1er mars 2026" if language == "fr" else "1 March 2026") in body
    with pytest.raises(ValueError, match="'url'"):
        render("opt-out-notice", language, {k: v for k, v in payload.items() if k != "url"})


def test_the_opt_out_opening_tells_how_to_sign_in() -> None:
    _, body = render("record-created", "fr", {"channel": "opt-out", "at": AT})
    assert "sans opposition de votre part" in body and "Identifiant oublié" in body
