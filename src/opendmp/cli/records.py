"""``record``: records (DMP) by INS."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Coroutine
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Protocol, TypeVar

import typer
from rich.table import Table

from opendmp.app import Runtime
from opendmp.cli.backup import progress_bar
from opendmp.cli.common import (
    InsOption,
    err,
    operator,
    out,
    parse_ins_option,
    run,
    settings,
    with_runtime,
)
from opendmp.domain.actors import Operator
from opendmp.domain.consent import Consent, ConsentChannel, ConsentKind
from opendmp.domain.errors import InvalidInput
from opendmp.domain.identifiers import Ins
from opendmp.domain.local_time import paris_date
from opendmp.domain.records import ClosureReason
from opendmp.services.core.context import ServiceContext
from opendmp.services.records import lifecycle as records
from opendmp.services.records import opt_out
from opendmp.services.records.notice import current_notice
from opendmp.services.records.opt_out_import import RowProblem, read_beneficiaries
from opendmp.storage.private_files import make_private_dir, write_private_file

record_app = typer.Typer(help="Records (DMP) by INS.", no_args_is_help=True)

T_co = TypeVar("T_co", covariant=True)
T = TypeVar("T")


class _RecordService(Protocol[T_co]):
    def __call__(
        self, ctx: ServiceContext, *, actor: Operator, ins: Ins
    ) -> Coroutine[Any, Any, T_co]: ...


async def _as_operator(service: _RecordService[T], ins: str) -> T:
    """Run ``service`` as the CLI's operator on the record that ``ins`` names."""
    return await with_runtime(
        lambda rt: service(rt.ctx, actor=operator(), ins=parse_ins_option(ins, rt))
    )


@record_app.command("create")
@run
async def record_create(
    ins: InsOption,
    birth_name: Annotated[str, typer.Option("--birth-name")],
    given: Annotated[str, typer.Option("--given", help="given names, space separated")],
    birth_date: Annotated[str, typer.Option("--birth-date", help="YYYY-MM-DD")],
    sex: Annotated[str, typer.Option("--sex", help="F or M")],
    email: Annotated[str | None, typer.Option("--email")] = None,
    mobile: Annotated[str | None, typer.Option("--mobile")] = None,
) -> None:
    """Create a record (consent captured by the operator, channel 'operator')."""
    try:
        born = dt.date.fromisoformat(birth_date)
    except ValueError:
        raise InvalidInput(
            f"birth date {birth_date!r} is not YYYY-MM-DD", code="invalid-date"
        ) from None

    async def _do(rt: Runtime) -> records.RecordView:
        actor = operator()
        notice = current_notice()
        consent = Consent(
            kind=ConsentKind.CREATION,
            channel=ConsentChannel.OPERATOR,
            captured_by_kind=actor.kind.value,
            captured_by_id=actor.actor_id,
            captured_by_name=None,
            place="cli",
            notice_version=notice.version,
            notice_sha256=notice.sha256,
            captured_at=rt.ctx.now(),
            patient_confirmed=True,
        )
        return await records.create_record(
            rt.ctx,
            actor=actor,
            request=records.NewRecord(
                ins=parse_ins_option(ins, rt),
                birth_name=birth_name,
                given_names=tuple(given.split()),
                birth_date=born,
                sex=sex.upper(),
                consent=consent,
                email=email,
                mobile=mobile,
            ),
        )

    view = await with_runtime(_do)
    out.print(f"created record {view.record_id} for {view.ins} ({view.status.value})")


def _print_record(view: records.RecordView) -> None:
    table = Table(show_header=False)
    rows = [
        ("record", str(view.record_id)),
        ("INS", view.ins),
        ("status", view.status.value),
        ("name", f"{view.birth_name} {view.given_names}"),
        ("born", view.birth_date.isoformat()),
        ("sex", view.sex),
        ("created", view.created_at.isoformat(timespec="seconds")),
        ("closed", view.closed_at.isoformat(timespec="seconds") if view.closed_at else "-"),
        ("closure reason", view.closure_reason or "-"),
        ("destroy after", view.destroy_after.date().isoformat() if view.destroy_after else "-"),
        (
            "emergency ETREAT/BTG/MASKED",
            " / ".join(
                "permit" if v else "deny"
                for v in (
                    view.emergency.allow_regulation,
                    view.emergency.allow_break_glass,
                    view.emergency.allow_masked_in_emergency,
                )
            ),
        ),
    ]
    for k, v in rows:
        table.add_row(k, v)
    out.print(table)


@record_app.command("show")
@run
async def record_show(ins: InsOption) -> None:
    """Show a record's status."""
    view = await _as_operator(records.show_record, ins)
    _print_record(view)


@record_app.command("close")
@run
async def record_close(
    ins: InsOption,
    reason: Annotated[ClosureReason, typer.Option(help="closure reason code")] = (
        ClosureReason.PATIENT_REQUEST
    ),
    text: Annotated[str | None, typer.Option(help="free text")] = None,
) -> None:
    """Close a record (kept for the retention period, then destroyed)."""
    view = await _as_operator(partial(records.close_record, reason=reason, text=text), ins)
    out.print(f"closed {view.ins}; destroyed after {view.destroy_after:%Y-%m-%d}")


@record_app.command("reactivate")
@run
async def record_reactivate(ins: InsOption) -> None:
    """Reactivate a closed record (emergency choices reset to permit: ask the patient)."""
    view = await _as_operator(records.reactivate_record, ins)
    out.print(f"reactivated {view.ins}")


@record_app.command("request-destruction")
@run
async def record_request_destruction(ins: InsOption) -> None:
    """Early destruction of a closed record, honoured within 3 months."""
    view = await _as_operator(records.request_record_destruction, ins)
    out.print(f"destruction of {view.ins} scheduled before {view.destroy_after:%Y-%m-%d}")


@record_app.command("add-representative")
@run
async def record_add_representative(
    ins: InsOption,
    relation: Annotated[str, typer.Option("--relation", help="MTH, FTH, GUARD, …")],
    family: Annotated[str, typer.Option("--family", help="family name")],
    given: Annotated[str, typer.Option("--given", help="given name")],
    email: Annotated[str | None, typer.Option("--email")] = None,
) -> None:
    """Record a minor's legal representative (on documentary evidence) and print the login
    and one-time password of their portal account, once: hand them over, they are not kept."""
    from opendmp.services.access import representatives

    async def _do(rt: Runtime) -> tuple[Any, Any]:
        target = parse_ins_option(ins, rt)
        added = await representatives.add_representative(
            rt.ctx,
            actor=operator(),
            ins=target,
            relation=relation,
            family_name=family,
            given_name=given,
            email=email,
        )
        credentials = await representatives.issue_representative_credentials(
            rt.ctx, actor=operator(), ins=target, representative_id=added.id
        )
        return added, credentials

    added, credentials = await with_runtime(_do)
    base = settings().base_url
    out.print(
        f"representative {added.id} ({added.relation} {added.family_name} {added.given_name})"
        f" added; portal {base}/patient — login {credentials.login}, one-time password"
        f" {credentials.one_time_password} (to change at first sign-in)",
        highlight=False,
    )


@record_app.command("announce")
@run
async def record_announce(
    file: Annotated[Path, typer.Option("--file", help="CSV of beneficiaries (docs/operations.md)")],
    letters: Annotated[
        Path | None,
        typer.Option("--letters", help="folder for the letter PDFs (default <home>/letters)"),
    ] = None,
) -> None:
    """Announce the opening of a DMP to each beneficiary of the file (opt-out mode): an
    e-mail, or a letter PDF to post. Bad rows are reported and skipped; a re-run announces
    only the new rows. Exit code 2 when some rows were refused."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise InvalidInput(f"cannot read {file}: {problem}", code="invalid-announce-file") from None
    folder = letters or settings().home / "letters"

    async def _do(rt: Runtime) -> tuple[Counter[str], list[RowProblem]]:
        opt_out.require_enabled(rt.ctx)
        people, problems = read_beneficiaries(
            text, default_oid=rt.ctx.default_ins_oid, today=paris_date(rt.ctx.now())
        )
        make_private_dir(folder)
        counts: Counter[str] = Counter()

        def post(name: str, pdf: bytes) -> None:
            write_private_file(folder / f"dmp-notice-{name}.pdf", pdf)

        with progress_bar("announcing") as advance:
            for done, person in enumerate(people, 1):
                try:
                    outcome = await opt_out.announce(
                        rt.ctx, actor=operator(), person=person, letters=post
                    )
                    counts[outcome.value] += 1
                except InvalidInput as problem:
                    problems.append(RowProblem(person.line, problem.message))
                advance(done, len(people))
        return counts, sorted(problems, key=lambda p: p.line)

    counts, problems = await with_runtime(_do)
    for refused in problems:
        err.print(f"line {refused.line}: {refused.message}", highlight=False, markup=False)
    out.print(
        f"announced {counts['email']} by e-mail, {counts['letter']} by letter (in {folder}); "
        f"{counts['already-announced']} already announced, {counts['record-exists']} "
        f"with a DMP already; {len(problems)} row(s) refused"
    )
    if problems:
        raise typer.Exit(2)
