"""Admission desk (``/accueil``): a signed-in desk agent (CPE) or professional (CPS) opens a
DMP for the person in front of them (docs/rules.md §2).

1. read the Carte Vitale (the reader's card file) or type the identity; pick the person;
2. check the identity against the identity registry (INSi), then the existence test —
   a closed record is offered for reactivation;
3. show the information notice, capture the express consent (who, where, when, which
   notice), the emergency choices and a contact channel; create the record;
4. hand over the welcome letter: sealed in the agent's session, downloadable once.

Beside it, ``/accueil/opposition``: a person who received the notice of an opt-out opening
objects at the desk with the notice's code and birth date (docs/rules.md §2); the agent
prints the proof of opposition.

For any active record after the identity check — one that existed, one created or
reactivated a moment ago — the desk records a legal representative on documentary evidence
and shows their first login and one-time password once (docs/rules.md §3.7): the checked
identity stays in the session, marked active, until the next person.

The identity the registry confirmed is kept in the agent's session between steps, so the
consent form cannot be posted for someone else than the person checked.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData, UploadFile

from opendmp.domain.codes import REPRESENTATIVE_RELATIONS
from opendmp.domain.consent import Consent, ConsentChannel, ConsentKind
from opendmp.domain.errors import Conflict, InvalidInput, OpenDMPError
from opendmp.domain.opt_out import OppositionChannel
from opendmp.domain.records import RecordStatus
from opendmp.domain.vitale import MAX_FILE_BYTES, parse_card
from opendmp.services.access.representatives import (
    NewRepresentative,
    add_representative_with_credentials,
)
from opendmp.services.accounts.web_sessions import update_attributes
from opendmp.services.records.identity_registry import ReferenceIdentity, verify_identity
from opendmp.services.records.lifecycle import NewRecord, create_record, reactivate_record
from opendmp.services.records.notice import current_notice
from opendmp.services.records.onboarding import (
    LETTER_KEY,
    check_existence,
    seal_welcome_letter,
    take_welcome_letter,
)
from opendmp.services.records.opt_out import Opposition, oppose, opposition_of
from opendmp.services.records.opt_out_letters import proof_of_opposition
from opendmp.web.common import (
    Staff,
    client_address,
    ctx_of,
    error_text,
    field,
    format_date,
    language,
    read_form,
    render,
    require_staff,
)
from opendmp.web.forms import (
    IDENTITY_FIELDS,
    emergency_choices,
    identity_claim,
    identity_from_json,
    identity_json,
    notice_birth_date,
    notice_blocks,
    values_of,
)
from opendmp.web.patient.texts import stamped

router = APIRouter(prefix="/accueil", include_in_schema=False)
PENDING = "desk_identity"
CREATED = "desk_created"


def _expired() -> Conflict:
    return Conflict("start again from the card or the identity form", code="journey-expired")


def _home(
    request: Request, staff: Staff, *, values: dict[str, str] | None = None, problem: str | None
) -> Response:
    return render(
        request,
        "desk/home.html",
        {"values": values or {}, "problem": problem},
        binding=staff.binding,
        staff=staff,
        status_code=422 if problem else 200,
    )


def _identity_view(identity: ReferenceIdentity, lang: str) -> dict[str, str]:
    return {
        "name": f"{identity.birth_name} {' '.join(identity.given_names)}",
        "date": format_date(identity.birth_date, lang),
        "ins": identity.ins.value,
    }


def _consent_page(
    request: Request,
    staff: Staff,
    identity: ReferenceIdentity,
    *,
    problem: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    lang = language(request)
    notice = current_notice()
    ctx = ctx_of(request)
    return render(
        request,
        "desk/consent.html",
        {
            "person": _identity_view(identity, lang),
            "notice": notice,
            "notice_blocks": notice_blocks(notice.text),
            "problem": problem,
            "values": values or {},
            "captured_by": {
                "who": staff.actor.name or staff.actor.idnat,
                "org": staff.actor.organization or "—",
                "when": stamped(ctx.now(), language(request)),
            },
        },
        binding=staff.binding,
        staff=staff,
        status_code=422 if problem else 200,
    )


def _checked(identity: ReferenceIdentity, status: RecordStatus | None) -> dict[str, Any]:
    """The identity the registry confirmed, kept in the session, with its record's status
    (empty: no record yet)."""
    return {**identity_json(identity), "status": status.value if status else ""}


def _pending(staff: Staff) -> tuple[ReferenceIdentity, dict[str, Any]]:
    raw = staff.session.attributes.get(PENDING)
    if not isinstance(raw, dict):
        raise _expired()
    return identity_from_json(raw), raw


@router.get("")
async def home(request: Request) -> Response:
    staff = await require_staff(request)
    return _home(request, staff, problem=None)


@router.post("/carte")
async def read_card(request: Request) -> Response:
    staff = await require_staff(request)
    form = await read_form(request, staff.binding)
    upload = form.get("card")
    try:
        if not isinstance(upload, UploadFile):
            raise InvalidInput("choose the card file", code="invalid-vitale-card")
        card = parse_card(await upload.read(MAX_FILE_BYTES + 1))
    except OpenDMPError as error:
        return _home(request, staff, problem=error_text(error, language(request)))
    lang = language(request)
    people = [
        {
            "role": "desk.insured" if index == 0 else "desk.beneficiary",
            "name": person.display_name,
            "date": format_date(person.birth_date, lang),
            "rank": person.birth_rank,
            "fields": {
                "ins": person.ins or "",
                "birth_name": person.birth_name,
                "given_names": " ".join(person.given_names),
                "birth_date": person.birth_date.isoformat(),
                "sex": person.sex or "",
            },
        }
        for index, person in enumerate(card.people)
    ]
    return render(request, "desk/pick.html", {"people": people}, binding=staff.binding, staff=staff)


@router.post("/identite")
async def check_identity(request: Request) -> Response:
    staff = await require_staff(request)
    form = await read_form(request, staff.binding)
    ctx = ctx_of(request)
    lang = language(request)
    values = values_of(form, IDENTITY_FIELDS)
    try:
        claim = identity_claim(form, require_ins=False, require_serial=False)
        identity = await verify_identity(ctx, claim, detailed=True)
        status = await check_existence(ctx, actor=staff.actor, ins=identity.ins)
    except OpenDMPError as error:
        return _home(request, staff, values=values, problem=error_text(error, lang))
    await update_attributes(
        ctx,
        staff.session.session_id,
        set_items={PENDING: _checked(identity, status)},
        remove=(CREATED,),
    )
    if status is None:
        return _consent_page(request, staff, identity)
    return _exists_page(request, staff, identity, closed=status is RecordStatus.CLOSED)


def _exists_page(
    request: Request,
    staff: Staff,
    identity: ReferenceIdentity,
    *,
    closed: bool,
    problem: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "desk/exists.html",
        {
            "person": _identity_view(identity, language(request)),
            "closed": closed,
            **_representative_form(values),
            "problem": problem,
        },
        binding=staff.binding,
        staff=staff,
        status_code=422 if problem else 200,
    )


_REPRESENTATIVE_FIELDS = ("relation", "family_name", "given_name", "email")


def _representative_form(values: dict[str, str] | None = None) -> dict[str, Any]:
    """What ``desk/_representative.html`` needs."""
    return {"relations": sorted(REPRESENTATIVE_RELATIONS), "values": values or {}}


async def _mark_active(request: Request, staff: Staff, identity: ReferenceIdentity) -> None:
    """The person checked now has an active record: the representative form is theirs."""
    await update_attributes(
        ctx_of(request),
        staff.session.session_id,
        set_items={PENDING: _checked(identity, RecordStatus.ACTIVE)},
    )


@router.post("/representant")
async def add_representative(request: Request) -> Response:
    """Record a legal representative of the person checked (an active record), on
    documentary evidence, and show their first login and one-time password once."""
    staff = await require_staff(request)
    form = await read_form(request, staff.binding)
    identity, raw = _pending(staff)
    if raw.get("status") != RecordStatus.ACTIVE.value:
        raise _expired()
    ctx = ctx_of(request)
    values = values_of(form, (*_REPRESENTATIVE_FIELDS, "retour"))
    new = NewRepresentative(
        values["relation"], values["family_name"], values["given_name"], values["email"] or None
    )
    try:
        view, credentials = await add_representative_with_credentials(
            ctx, actor=staff.actor, ins=identity.ins, new=new
        )
    except OpenDMPError as error:
        problem = error_text(error, language(request))
        return _refused_representative(request, staff, identity, problem, values)
    response = render(
        request,
        "desk/representative.html",
        {
            "person": _identity_view(identity, language(request)),
            "representative": f"{view.given_name} {view.family_name}",
            "relation": view.relation,
            "login": credentials.login,
            "password": credentials.one_time_password,
        },
        binding=staff.binding,
        staff=staff,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _refused_representative(
    request: Request,
    staff: Staff,
    identity: ReferenceIdentity,
    problem: str,
    values: dict[str, str],
) -> Response:
    """The page the refused form came from, again, with the message and what was typed."""
    back = values.get("retour")
    if back == "cree":
        return _created_page(request, staff, problem=problem, values=values)
    if back == "reactive":
        return _reactivated_page(request, staff, identity, problem=problem, values=values)
    return _exists_page(request, staff, identity, closed=False, problem=problem, values=values)


def _consent(staff: Staff, form: FormData, now: Any) -> Consent:
    notice = current_notice()
    if field(form, "notice_version") != notice.version:
        raise Conflict("the notice changed: read it again", code="notice-changed")
    return Consent(
        kind=ConsentKind.CREATION,
        channel=ConsentChannel.DESK,
        captured_by_kind=staff.actor.kind.value,
        captured_by_id=staff.actor.idnat,
        captured_by_name=staff.actor.name,
        place=staff.actor.organization,
        notice_version=notice.version,
        notice_sha256=notice.sha256,
        captured_at=now,
        patient_confirmed=field(form, "consent") == "yes",
    )


@router.post("/creer")
async def create(request: Request) -> Response:
    staff = await require_staff(request)
    form = await read_form(request, staff.binding)
    ctx = ctx_of(request)
    lang = language(request)
    identity, raw = _pending(staff)
    if raw.get("status"):
        raise Conflict("a record exists for this person", code="record-exists")
    values = values_of(form, ("email", "mobile", "consent", "allow_regulation"))
    values.update(values_of(form, ("allow_break_glass", "allow_masked")))
    email, mobile = field(form, "email"), field(form, "mobile")
    if not email and not mobile:
        return _consent_page(
            request,
            staff,
            identity,
            problem=error_text(InvalidInput("", code="contact-required"), lang),
            values=values,
        )
    try:
        view = await create_record(
            ctx,
            actor=staff.actor,
            request=NewRecord(
                ins=identity.ins,
                birth_name=identity.birth_name,
                given_names=identity.given_names,
                birth_date=identity.birth_date,
                sex=identity.sex,
                birth_place_code=identity.birth_place_code,
                consent=_consent(staff, form, ctx.now()),
                email=email or None,
                mobile=mobile or None,
                emergency=emergency_choices(form),
            ),
        )
    except OpenDMPError as error:
        return _consent_page(
            request, staff, identity, problem=error_text(error, lang), values=values
        )
    await update_attributes(
        ctx,
        staff.session.session_id,
        set_items={
            CREATED: _identity_view(identity, lang),
            PENDING: _checked(identity, RecordStatus.ACTIVE),
        },
    )
    await seal_welcome_letter(ctx, session_id=staff.session.session_id, view=view)
    return RedirectResponse("/accueil/cree", status_code=303)


@router.get("/cree")
async def created(request: Request) -> Response:
    staff = await require_staff(request)
    if not isinstance(staff.session.attributes.get(CREATED), dict):
        return RedirectResponse("/accueil", status_code=303)
    return _created_page(request, staff)


def _created_page(
    request: Request,
    staff: Staff,
    *,
    problem: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """The record just created: its welcome letter (once), and the representative form while
    the session still holds that person's identity."""
    person = staff.session.attributes.get(CREATED)
    if not isinstance(person, dict):
        raise _expired()
    letter = staff.session.attributes.get(LETTER_KEY)
    pending = staff.session.attributes.get(PENDING)
    same_person = (
        isinstance(pending, dict)
        and pending.get("status") == RecordStatus.ACTIVE.value
        and pending.get("ins") == person.get("ins")
    )
    return render(
        request,
        "desk/created.html",
        {
            "person": person,
            "letter_id": letter.get("id") if isinstance(letter, dict) else None,
            **(_representative_form(values) if same_person else {"relations": []}),
            "problem": problem,
        },
        binding=staff.binding,
        staff=staff,
        status_code=422 if problem else 200,
    )


@router.post("/lettre")
async def download_letter(request: Request) -> Response:
    staff = await require_staff(request)
    form = await read_form(request, staff.binding)
    pdf = await take_welcome_letter(
        ctx_of(request),
        actor=staff.actor,
        session_id=staff.session.session_id,
        letter_id=field(form, "letter_id"),
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": 'attachment; filename="courrier-bienvenue-dmp.pdf"'},
    )


@router.post("/reactiver")
async def reactivate(request: Request) -> Response:
    staff = await require_staff(request)
    form = await read_form(request, staff.binding)
    identity, raw = _pending(staff)
    if raw.get("status") != RecordStatus.CLOSED.value:
        raise _expired()
    ctx = ctx_of(request)
    await reactivate_record(
        ctx, actor=staff.actor, ins=identity.ins, emergency=emergency_choices(form)
    )
    await _mark_active(request, staff, identity)
    return _reactivated_page(request, staff, identity)


def _reactivated_page(
    request: Request,
    staff: Staff,
    identity: ReferenceIdentity,
    *,
    problem: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "desk/reactivated.html",
        {
            "person": _identity_view(identity, language(request)),
            **_representative_form(values),
            "problem": problem,
        },
        binding=staff.binding,
        staff=staff,
        status_code=422 if problem else 200,
    )


# --- objection to an opt-out opening ----------------------------------------------------------


def _opposition_page(
    request: Request,
    staff: Staff,
    *,
    done: Opposition | None = None,
    values: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    lang = language(request)
    return render(
        request,
        "desk/opposition.html",
        {
            "done": done,
            "when": stamped(done.opposed_at, lang) if done else "",
            "values": values or {},
            "problem": problem,
        },
        binding=staff.binding,
        staff=staff,
        status_code=status,
    )


@router.get("/opposition")
async def opposition_form(request: Request) -> Response:
    staff = await require_staff(request)
    return _opposition_page(request, staff)


@router.post("/opposition")
async def record_opposition(request: Request) -> Response:
    staff = await require_staff(request)
    form = await read_form(request, staff.binding)
    values = {"code": field(form, "code"), "birth_date": field(form, "birth_date")}
    try:
        done = await oppose(
            ctx_of(request),
            code=values["code"],
            birth_date=notice_birth_date(form),
            channel=OppositionChannel.DESK,
            recorded_by=staff.actor,
            client_address=client_address(request),
        )
    except OpenDMPError as error:
        return _opposition_page(
            request,
            staff,
            values=values,
            problem=error_text(error, language(request)),
            status=error.http_status,
        )
    return _opposition_page(request, staff, done=done, values=values)


@router.post("/opposition/attestation")
async def opposition_proof(request: Request) -> Response:
    staff = await require_staff(request)
    form = await read_form(request, staff.binding)
    done = await opposition_of(
        ctx_of(request),
        code=field(form, "code"),
        birth_date=notice_birth_date(form),
        client_address=client_address(request),
    )
    return Response(
        proof_of_opposition(done),
        media_type="application/pdf",
        headers={
            "Content-Disposition": 'attachment; filename="attestation-opposition-dmp.pdf"',
            "Cache-Control": "no-store",
        },
    )
