"""The ``opendmp`` command. Errors print one readable line and exit 1."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from opendmp.app import (
    Runtime,
    build_runtime,
    check_home,
    create_app,
    maintenance_loop,
    smtp_sender,
    start_outbox_worker,
    stop_outbox_worker,
)
from opendmp.blobs import (
    MasterKey,
    erase_previous_master_key,
    load_or_create_master_key,
    write_master_key,
)
from opendmp.config import Settings, load_settings
from opendmp.domain.actors import Operator
from opendmp.domain.consent import Consent, ConsentChannel, ConsentKind
from opendmp.domain.errors import InvalidInput, OpenDMPError
from opendmp.domain.identifiers import Ins, parse_ins_reference
from opendmp.domain.records import ClosureReason
from opendmp.services import maintenance, records
from opendmp.services.health import prepare_keys
from opendmp.services.notice import current_notice
from opendmp.storage.migrate import upgrade
from opendmp.storage.private_files import make_private_dir, restrict_umask, write_private_file

app = typer.Typer(help="OpenDMP: shared medical record server.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
record_app = typer.Typer(help="Records (DMP) by INS.", no_args_is_help=True)
retention_app = typer.Typer(help="Retention of closed records.", no_args_is_help=True)
audit_app = typer.Typer(help="Audit trail.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys.", no_args_is_help=True)
pki_app = typer.Typer(help="Test certification authority and test cards.", no_args_is_help=True)
token_app = typer.Typer(help="Development bearer tokens.", no_args_is_help=True)
establishment_app = typer.Typer(help="Establishments' assertion keys.", no_args_is_help=True)
vitale_app = typer.Typer(
    help="Test Carte Vitale files for the admission desk.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(record_app, name="record")
app.add_typer(retention_app, name="retention")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
bench_app = typer.Typer(help="Benchmark datasets.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(pki_app, name="pki")
app.add_typer(token_app, name="token")
app.add_typer(establishment_app, name="establishment")
app.add_typer(vitale_app, name="vitale")

# Wide enough for INS and IdNat_PS when the output is not a terminal (logs, pipes).
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 1000)
T = TypeVar("T")

InsOption = Annotated[str, typer.Option("--ins", help="INS as OID|VALUE, or VALUE")]


def operator() -> Operator:
    return Operator(
        login=os.environ.get("OPENDMP_OPERATOR", f"cli:{os.environ.get('USER', 'operator')}")
    )


def settings() -> Settings:
    return load_settings()


def fail(exc: OpenDMPError) -> NoReturn:
    """One line on stderr with the error's stable code, exit code 1."""
    err.print(f"[red]error:[/red] {exc.message} [dim]({exc.code})[/dim]", highlight=False)
    raise typer.Exit(1) from None


def run(coro_fn: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """Run an async command; turn OpenDMP errors into one line on stderr and exit code 1."""

    @functools.wraps(coro_fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return asyncio.run(coro_fn(*args, **kwargs))
        except OpenDMPError as exc:
            fail(exc)

    return wrapper


async def _with_runtime(fn: Callable[[Runtime], Coroutine[Any, Any, T]]) -> T:
    rt = build_runtime(settings())
    try:
        from opendmp.storage.migrate import ensure_up_to_date

        await ensure_up_to_date(rt.engine)
        return await fn(rt)
    finally:
        await rt.close()


def parse_ins_option(text: str, rt: Runtime) -> Ins:
    return parse_ins_reference(text, rt.ctx.default_ins_oid)


async def initialise(s: Settings) -> MasterKey:
    """Create what is missing of OPENDMP_HOME (folders 0700, files 0600) once what exists
    is checked: production refuses a home that other users can read, other modes warn."""
    make_private_dir(s.home)
    make_private_dir(s.blob_dir)
    check_home(s, warn=lambda problem: err.print(f"[yellow]warning:[/yellow] {problem}"))
    key = (
        MasterKey.from_base64(s.master_key)
        if s.master_key
        else load_or_create_master_key(s.key_dir, create=True)
    )
    rt = build_runtime(s)
    try:
        await upgrade(rt.engine)
        await prepare_keys(rt.ctx)
    finally:
        await rt.close()
    return key


@app.command()
@run
async def init() -> None:
    """Create OPENDMP_HOME (private to this user): master key, blob folder, database schema."""
    s = settings()
    key = await initialise(s)
    out.print(f"initialised {s.home.resolve()} (master key {key.key_id})")


@db_app.command("upgrade")
@run
async def db_upgrade() -> None:
    """Apply the schema migrations."""
    s = settings()
    rt = build_runtime(s)
    try:
        await upgrade(rt.engine)
        await prepare_keys(rt.ctx)  # data keys from before epochs move to epoch 1
    finally:
        await rt.close()
    out.print("database schema is up to date")


def server_options(s: Settings) -> dict[str, Any]:
    """uvicorn's options for ``serve`` and ``demo`` (the tests start servers with them)."""
    # uvloop and httptools (uvicorn[standard]) named, not "auto": a missing one fails at
    # start instead of silently costing ~30 % more CPU per request. No access log: the
    # metrics count requests, and a log line per request is CPU and disk for nothing.
    # proxy_headers off: uvicorn would trust X-Forwarded-For from 127.0.0.1, i.e. from any
    # local process; the app trusts OPENDMP_TRUSTED_PROXIES only (auth/proxies.py).
    options: dict[str, Any] = {
        "host": s.host,
        "port": s.port,
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        "log_level": "warning",
        "proxy_headers": False,
    }
    if s.tls_cert_file and s.tls_key_file:
        options |= {"ssl_certfile": str(s.tls_cert_file), "ssl_keyfile": str(s.tls_key_file)}
        if s.client_ca_file:
            from opendmp.auth.tls import uvicorn_tls_options

            options.update(uvicorn_tls_options(str(s.client_ca_file)))
    return options


def _serve(s: Settings, workers: int) -> None:
    import uvicorn

    if workers > 1:
        check_home(s)  # each worker's create_app checks too; refuse before forking them
        os.environ["OPENDMP_HOST"], os.environ["OPENDMP_PORT"] = s.host, str(s.port)
        uvicorn.run("opendmp.cli:app_factory", factory=True, workers=workers, **server_options(s))
    else:
        uvicorn.run(create_app(s), **server_options(s))


def app_factory() -> Any:
    restrict_umask()  # also when run as `uvicorn opendmp.cli:app_factory --factory`
    return create_app(load_settings())


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
) -> None:
    """Serve the API and portals."""
    try:
        overrides: dict[str, Any] = {}
        if host:
            overrides["host"] = host
        if port:
            overrides["port"] = port
        s = load_settings(**overrides)
        out.print(f"OpenDMP {s.mode.value} on {s.base_url}")
        _serve(s, workers)
    except OpenDMPError as exc:
        fail(exc)


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8080,
    seed: Annotated[bool, typer.Option("--seed/--no-seed", help="load the demo data")] = True,
) -> None:
    """Initialise OPENDMP_HOME, load synthetic demo data and serve."""
    from opendmp.services.demo import seed_demo

    started = time.perf_counter()
    try:
        s = load_settings(mode="demo", host=host, port=port)
        asyncio.run(initialise(s))
        summary = None
        if seed:

            async def _seed() -> Any:
                rt = build_runtime(s)
                try:
                    return await seed_demo(rt.ctx)
                finally:
                    await rt.close()

            summary = asyncio.run(_seed())
    except OpenDMPError as exc:
        fail(exc)
    out.print(f"[bold]OpenDMP demo[/bold] — data in {s.home.resolve()}")
    out.print(
        f"  API and portals: {s.base_url}/  (health {s.base_url}/healthz, "
        f"metrics {s.base_url}/metrics, API docs {s.base_url}/docs)"
    )
    if summary is not None:
        table = Table(title="Demo identities (synthetic)")
        for col in ("who", "identifier", "role"):
            table.add_column(col)
        for who, ident, role in summary.identities:
            table.add_row(who, ident, role)
        out.print(table)
        out.print(f"  professional token: {_demo_token_command(s, summary)}")
        for name, ins, login, one_time in _demo_patient_logins(s, summary):
            out.print(
                f"  patient {name}: portal {s.base_url}/patient — login {login}, one-time "
                f"password {one_time} (change it at first sign-in); API token: "
                f"opendmp token patient --ins '{ins}'"
            )
    out.print(f"ready in {time.perf_counter() - started:.1f}s — Ctrl-C to stop")
    try:
        _serve(s, 1)
    except OpenDMPError as exc:
        fail(exc)


@app.command()
@run
async def worker() -> None:
    """Deliver notifications (outbox) and run retention and blob reaping, until Ctrl-C."""

    async def _do(rt: Runtime) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        sender = smtp_sender(rt.settings)
        out.print(
            f"worker: notifications via {sender.host}:{sender.port} every "
            f"{rt.settings.worker_interval_seconds:g}s — Ctrl-C to stop"
        )
        outbox = start_outbox_worker(rt, stop)
        maintenance = asyncio.create_task(maintenance_loop(rt))
        try:
            await stop.wait()
        finally:
            maintenance.cancel()
            await stop_outbox_worker(outbox, stop)
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        out.print("worker stopped")

    await _with_runtime(_do)


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

    view = await _with_runtime(_do)
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
    view = await _with_runtime(
        lambda rt: records.show_record(rt.ctx, actor=operator(), ins=parse_ins_option(ins, rt))
    )
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
    view = await _with_runtime(
        lambda rt: records.close_record(
            rt.ctx, actor=operator(), ins=parse_ins_option(ins, rt), reason=reason, text=text
        )
    )
    out.print(f"closed {view.ins}; destroyed after {view.destroy_after:%Y-%m-%d}")


@record_app.command("reactivate")
@run
async def record_reactivate(ins: InsOption) -> None:
    """Reactivate a closed record (emergency choices reset to permit: ask the patient)."""
    view = await _with_runtime(
        lambda rt: records.reactivate_record(
            rt.ctx, actor=operator(), ins=parse_ins_option(ins, rt)
        )
    )
    out.print(f"reactivated {view.ins}")


@record_app.command("request-destruction")
@run
async def record_request_destruction(ins: InsOption) -> None:
    """Early destruction of a closed record, honoured within 3 months."""
    view = await _with_runtime(
        lambda rt: records.request_record_destruction(
            rt.ctx, actor=operator(), ins=parse_ins_option(ins, rt)
        )
    )
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
    from opendmp.services import representatives

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

    added, credentials = await _with_runtime(_do)
    base = settings().base_url
    out.print(
        f"representative {added.id} ({added.relation} {added.family_name} {added.given_name})"
        f" added; portal {base}/patient — login {credentials.login}, one-time password"
        f" {credentials.one_time_password} (to change at first sign-in)",
        highlight=False,
    )


@retention_app.command("run")
@run
async def retention_run() -> None:
    """Destroy the closed records past their retention period."""
    result = await _with_runtime(lambda rt: maintenance.run_retention(rt.ctx))
    out.print(f"destroyed {result.destroyed} record(s), {result.blobs_deleted} blob(s)")
    if result.epoch is not None:
        out.print(f"key-encryption keys rotated to epoch {result.epoch}; older ones erased")


@audit_app.command("verify")
@run
async def audit_verify(
    ins: Annotated[str | None, typer.Option("--ins", help="only this record's chain")] = None,
) -> None:
    """Walk the audit hash chains and report the first broken link."""

    async def _do(rt: Runtime) -> list[Any]:
        return await maintenance.verify_audit(
            rt.ctx, ins=parse_ins_option(ins, rt) if ins else None
        )

    reports = await _with_runtime(_do)
    broken = [r for r in reports if not r.ok]
    events = sum(r.events for r in reports)
    for r in broken:
        err.print(f"[red]BROKEN[/red] chain {r.chain}: {r.problem}", highlight=False)
    if broken:
        err.print(f"{len(broken)} of {len(reports)} chain(s) broken")
        raise typer.Exit(2)
    out.print(f"audit trail intact: {len(reports)} chain(s), {events} event(s)")


@keys_app.command("rotate")
@run
async def keys_rotate() -> None:
    """Re-wrap every data key under a new master key (blobs untouched)."""
    s = settings()
    if s.master_key:
        raise InvalidInput(
            "OPENDMP_MASTER_KEY is set: rotate it in your key manager, not here",
            code="master-key-external",
        )

    async def _do(rt: Runtime) -> tuple[int, MasterKey, bool]:
        previous = rt.ctx.previous_master_key
        # A previous key that records still depend on: the last rotation was interrupted.
        resume = previous is not None and await maintenance.previous_key_in_use(rt.ctx, previous)
        new_key = rt.ctx.master_key if resume else MasterKey.generate()
        if not resume and previous is not None:
            # Left by an older version or a rotation killed at its very end: nothing needs
            # it, and it must not outlive the KEKs it wrapped (docs/security.md).
            erase_previous_master_key(s.key_dir)
            rt.ctx.previous_master_key = None
        count = await maintenance.rotate_master_key(
            rt.ctx,
            actor=operator(),
            new_key=new_key,
            persist=lambda k: write_master_key(s.key_dir, k),
            forget_previous=lambda: erase_previous_master_key(s.key_dir),
            batch=s.key_rotation_batch,
        )
        return count, new_key, resume

    count, new_key, resumed = await _with_runtime(_do)
    if resumed:
        out.print("resumed an interrupted rotation")
    out.print(f"re-wrapped {count} data key(s); master key is now {new_key.key_id}")


def _demo_patient_logins(s: Settings, summary: Any) -> list[tuple[str, str, str, str]]:
    """The demo patients' first credentials, kept (0600) in OPENDMP_HOME once generated:
    the one-time passwords exist nowhere else, and a second `make demo` prints them again."""
    path = s.home / "demo-patient-logins.json"
    if summary.patient_logins:
        write_private_file(path, json.dumps(summary.patient_logins).encode("utf-8"))
    if not path.exists():
        return []
    return [tuple(row) for row in json.loads(path.read_text(encoding="utf-8"))]


def _demo_token_command(s: Settings, summary: Any) -> str:
    from opendmp.services.demo import ESTABLISHMENT, PROFESSIONALS

    gp = next(p.actor for p in PROFESSIONALS if p.key == "gp")
    env = f"OPENDMP_HOME={s.home.resolve()}"
    if s.base_url != "http://127.0.0.1:8080":
        env += f" OPENDMP_PUBLIC_BASE_URL={s.base_url}"
    return (
        f"{env} opendmp token professional --idnat {gp.idnat} --profession {gp.profession}"
        f" --organization {ESTABLISHMENT}   (then: curl -H 'Authorization: Bearer <token>'"
        f" {s.base_url}/auth/whoami)"
    )


# --- authentication: test PKI, development tokens, establishment keys -------------------


@pki_app.command("init")
@run
async def pki_init(
    force: Annotated[bool, typer.Option("--force", help="replace an existing test CA")] = False,
) -> None:
    """Create the test certification authority in OPENDMP_HOME/pki (ca.pem, ca.key)."""
    from opendmp.auth import pki

    s = settings()
    files = pki.init_authority(s.home, force=force)
    out.print(f"test CA: {files.certificate.resolve()}")
    out.print(f"CA key:  {files.key.resolve()}")
    out.print(f"trust it with OPENDMP_CLIENT_CA_FILE={files.certificate.resolve()}")


@pki_app.command("issue-card")
@run
async def pki_issue_card(
    idnat: Annotated[str, typer.Option("--idnat", help="IdNat_PS, e.g. 899700000018")],
    profession: Annotated[str, typer.Option("--profession", help="TRE_G15 code, e.g. 10")],
    name: Annotated[str, typer.Option("--name", help='"FAMILY Given"')],
    kind: Annotated[str, typer.Option("--kind", help="CPS or CPE")] = "CPS",
    specialty: Annotated[str | None, typer.Option("--specialty")] = None,
    organization: Annotated[
        str | None, typer.Option("--organization", help="Struct_IdNat (required for a CPE)")
    ] = None,
) -> None:
    """Issue a test card certificate and key (PEM) into OPENDMP_HOME/pki/cards."""
    from opendmp.auth import pki
    from opendmp.domain.actors import CardKind

    try:
        card_kind = CardKind(kind.upper())
    except ValueError:
        raise InvalidInput("--kind must be CPS, CPE or CPA", code="invalid-card-kind") from None
    files = pki.issue_card_files(
        settings().home,
        idnat=idnat,
        profession=profession,
        name=name,
        kind=card_kind,
        specialty=specialty,
        organization=organization,
    )
    out.print(f"certificate: {files.certificate.resolve()}", soft_wrap=True)
    out.print(f"key:         {files.key.resolve()}", soft_wrap=True)


@pki_app.command("issue-establishment")
@run
async def pki_issue_establishment(
    organization: Annotated[str, typer.Option("--organization", help="Struct_IdNat")],
    name: Annotated[str | None, typer.Option("--name")] = None,
) -> None:
    """Issue a test establishment (organisation) certificate for indirect authentication."""
    from opendmp.auth import pki

    files = pki.issue_establishment_files(settings().home, organization=organization, name=name)
    out.print(f"certificate: {files.certificate.resolve()}", soft_wrap=True)
    out.print(f"key:         {files.key.resolve()}", soft_wrap=True)


def _dev_issuer(s: Settings) -> Any:
    from opendmp.auth.dependencies import build_dev_issuer
    from opendmp.config import Mode

    if s.mode is Mode.PRODUCTION:
        raise InvalidInput(
            "the development issuer is refused in production", code="dev-issuer-refused"
        )
    return build_dev_issuer(s)


@token_app.command("professional")
@run
async def token_professional(
    idnat: Annotated[str, typer.Option("--idnat", help="IdNat_PS")],
    profession: Annotated[str | None, typer.Option("--profession")] = None,
    specialty: Annotated[str | None, typer.Option("--specialty")] = None,
    organization: Annotated[str | None, typer.Option("--organization", help="Struct_IdNat")] = None,
    purpose: Annotated[
        str, typer.Option("--purpose", help="normal | break-glass | regulation")
    ] = "normal",
    reason: Annotated[
        str | None, typer.Option("--reason", help="break-glass justification")
    ] = None,
    ttl: Annotated[str, typer.Option("--ttl", help="lifetime: 90s, 10m, 2h")] = "10m",
    name: Annotated[str | None, typer.Option("--name")] = None,
    card_kind: Annotated[str | None, typer.Option("--card-kind", help="CPS | CPE")] = None,
    scope: Annotated[str | None, typer.Option("--scope", help="IUA scopes")] = None,
) -> None:
    """Print a development bearer token for a professional."""
    from opendmp.auth import dev_issuer
    from opendmp.services.context import utcnow

    s = settings()
    token = _dev_issuer(s).professional_token(
        idnat=idnat,
        now=utcnow(),
        ttl=dev_issuer.parse_ttl(ttl),
        profession=profession,
        specialty=specialty,
        organization=organization,
        card_kind=card_kind.upper() if card_kind else None,
        name=name,
        purpose=purpose,
        reason=reason,
        scope=scope or dev_issuer.DEFAULT_SCOPES,
    )
    print(token)


@token_app.command("patient")
@run
async def token_patient(
    ins: InsOption,
    ttl: Annotated[str, typer.Option("--ttl", help="lifetime: 90s, 10m, 2h")] = "10m",
) -> None:
    """Print a development bearer token for a patient."""
    from opendmp.auth import dev_issuer
    from opendmp.config import Mode
    from opendmp.domain.identifiers import INS_NIR_OID, INS_NIR_TEST_OID
    from opendmp.services.context import utcnow

    s = settings()
    default_oid = INS_NIR_OID if s.mode is Mode.PRODUCTION else INS_NIR_TEST_OID
    token = _dev_issuer(s).patient_token(
        ins=ins, default_oid=default_oid, now=utcnow(), ttl=dev_issuer.parse_ttl(ttl)
    )
    print(token)


@establishment_app.command("register-key")
@run
async def establishment_register_key(
    organization: Annotated[str, typer.Option("--organization", help="Struct_IdNat")],
    jwk: Annotated[Path, typer.Option("--jwk", help="public JWK (JSON file)")],
) -> None:
    """Register a public key an establishment signs its staff assertions with."""
    import json

    from opendmp.services import identity

    try:
        public = json.loads(jwk.read_text())
    except (OSError, ValueError) as error:
        raise InvalidInput(f"cannot read the JWK file: {error}", code="invalid-jwk") from None
    if not isinstance(public, dict):
        raise InvalidInput("the JWK file holds no JSON object", code="invalid-jwk")
    view = await _with_runtime(
        lambda rt: identity.register_establishment_key(
            rt.ctx, actor=operator(), struct_idnat=organization, public_jwk=public
        )
    )
    out.print(f"registered key {view.kid} for {view.struct_idnat}")


@establishment_app.command("revoke-key")
@run
async def establishment_revoke_key(
    organization: Annotated[str, typer.Option("--organization", help="Struct_IdNat")],
    kid: Annotated[str, typer.Option("--kid")],
) -> None:
    """Revoke an establishment key: its assertions are refused from now on."""
    from opendmp.services import identity

    await _with_runtime(
        lambda rt: identity.revoke_establishment_key(
            rt.ctx, actor=operator(), struct_idnat=organization, kid=kid
        )
    )
    out.print(f"revoked key {kid} of {organization}")


def _card_person(name: str, birth_date: str, rank: int, ins: str | None, sex: str | None) -> Any:
    from opendmp.domain.vitale import CardPerson, normalise_nir, sex_of_nir

    birth_name, _, given = name.strip().partition(" ")
    if not birth_name or not given.strip():
        raise InvalidInput(f"name {name!r} must be 'BIRTHNAME Given names'", code="invalid-input")
    try:
        born = dt.date.fromisoformat(birth_date.strip())
    except ValueError:
        raise InvalidInput(
            f"birth date {birth_date!r} is not YYYY-MM-DD", code="invalid-input"
        ) from None
    own = normalise_nir(ins) if ins else None
    return CardPerson(
        birth_name=birth_name.upper(),
        given_names=tuple(given.split()),
        birth_date=born,
        birth_rank=rank,
        ins=own,
        sex=sex or (sex_of_nir(own) if own else None),
    )


@vitale_app.command("make")
@run
async def vitale_make(
    nir: Annotated[str, typer.Option(help="NIR of the insured (13 or 15 characters)")],
    name: Annotated[str, typer.Option(help="insured's 'BIRTHNAME Given names'")],
    birth_date: Annotated[str, typer.Option(help="insured's birth date, YYYY-MM-DD")],
    out_file: Annotated[Path, typer.Option("--out", help="card file to write")],
    rank: Annotated[int, typer.Option(min=1, max=9, help="birth rank")] = 1,
    sex: Annotated[str | None, typer.Option(help="F or M (default: from the NIR)")] = None,
    serial: Annotated[str | None, typer.Option(help="card serial number")] = None,
    beneficiary: Annotated[
        list[str] | None,
        typer.Option(help="'BIRTHNAME Given;YYYY-MM-DD[;rank[;INS]]', repeatable"),
    ] = None,
) -> None:
    """Write a test Carte Vitale file (format opendmp-vitale/1, docs/vitale-card.md)."""
    import json

    from opendmp.domain.vitale import VitaleCard, card_json, parse_card

    people = []
    for spec in beneficiary or []:
        parts = [p.strip() for p in spec.split(";")]
        if len(parts) < 2:
            raise InvalidInput(
                f"beneficiary {spec!r} must be 'BIRTHNAME Given;YYYY-MM-DD[;rank[;INS]]'",
                code="invalid-input",
            )
        b_rank = int(parts[2]) if len(parts) > 2 and parts[2] else 1
        people.append(
            _card_person(parts[0], parts[1], b_rank, parts[3] if len(parts) > 3 else None, None)
        )
    card = VitaleCard(_card_person(name, birth_date, rank, nir, sex), tuple(people), serial)
    text = json.dumps(card_json(card), ensure_ascii=False, indent=2) + "\n"
    parse_card(text.encode())  # what we write, the desk must read
    out_file.write_text(text, encoding="utf-8")
    out.print(f"wrote card file {out_file} ({1 + len(people)} person(s))")


@bench_app.command("seed")
@run
async def bench_seed(
    records: Annotated[int, typer.Option("--records", min=1, help="records to add")] = 100,
    docs_per_record: Annotated[
        int, typer.Option("--docs-per-record", min=0, help="documents per record")
    ] = 100,
    size: Annotated[str, typer.Option(help="10k, 100k or mixed (1 in 10 is 100k)")] = "10k",
) -> None:
    """Bulk-load synthetic records and encrypted CDA documents (for benchmarks)."""
    from rich.progress import BarColumn, Progress, TimeRemainingColumn

    from opendmp.services.bulk_seed import SIZES, seed_bulk

    if size not in {*SIZES, "mixed"}:
        raise InvalidInput("--size must be 10k, 100k or mixed", code="invalid-size")
    started = time.perf_counter()

    async def _do(rt: Runtime) -> Any:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            "{task.completed}/{task.total}",
            TimeRemainingColumn(),
            console=err,
        ) as bar:
            task = bar.add_task("records", total=records)
            return await seed_bulk(
                rt.ctx,
                records=records,
                docs_per_record=docs_per_record,
                size=size,
                progress=lambda n: bar.advance(task, n),
            )

    result = await _with_runtime(_do)
    elapsed = time.perf_counter() - started
    out.print(
        f"seeded {result.records} record(s) and {result.documents} document(s) "
        f"({result.bytes_written / 1e6:.1f} MB of blobs) in {elapsed:.1f}s "
        f"({result.documents / max(elapsed, 1e-9):.0f} documents/s); first bench INS index "
        f"{result.first_index}"
    )


def main() -> None:
    # Everything OpenDMP creates under OPENDMP_HOME is private to its user, whoever creates
    # it (SQLite, libraries): storage/private_files.py.
    restrict_umask()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["app", "app_factory", "main"]
