"""Top-level commands: ``init``, ``serve``, ``demo`` and ``worker``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from opendmp.app import (
    Runtime,
    build_runtime,
    check_home,
    maintenance_loop,
    serving_app,
    smtp_sender,
    start_outbox_worker,
    stop_outbox_worker,
)
from opendmp.blobs import MasterKey, load_or_create_master_key
from opendmp.cli.common import err, fail, out, run, settings, with_runtime
from opendmp.config import Settings, load_settings
from opendmp.domain.errors import OpenDMPError
from opendmp.observability import configure_logging
from opendmp.services.operations.health import prepare_keys
from opendmp.storage.migrate import upgrade
from opendmp.storage.private_files import make_private_dir, write_private_file


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


@run
async def init() -> None:
    """Create OPENDMP_HOME (private to this user): master key, blob folder, database schema."""
    s = settings()
    key = await initialise(s)
    out.print(f"initialised {s.home.resolve()} (master key {key.key_id})")


def server_options(s: Settings) -> dict[str, Any]:
    """uvicorn's options for ``serve`` and ``demo`` (the tests start servers with them)."""
    # uvloop and httptools (uvicorn[standard]) named, not "auto": a missing one fails at
    # start instead of silently costing ~30 % more CPU per request. No access log: the
    # app logs one line per request itself (observability.RequestLog, without the raw path
    # that may hold an INS); log_config None: uvicorn's own records go to the same handler.
    # proxy_headers off: uvicorn would trust X-Forwarded-For from 127.0.0.1, i.e. from any
    # local process; the app trusts OPENDMP_TRUSTED_PROXIES only (auth/proxies.py).
    options: dict[str, Any] = {
        "host": s.host,
        "port": s.port,
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        "log_config": None,
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

    configure_logging(s.log_level, s.log_format)
    if workers > 1:
        check_home(s)  # each worker's create_app checks too; refuse before forking them
        os.environ["OPENDMP_HOST"], os.environ["OPENDMP_PORT"] = s.host, str(s.port)
        uvicorn.run("opendmp.cli:app_factory", factory=True, workers=workers, **server_options(s))
    else:
        uvicorn.run(serving_app(s), **server_options(s))


def default_workers() -> int:
    """One worker process per core this process may run on: a worker is CPU-bound in one
    Python thread, so fewer leave cores idle (docs/benchmarks.md, workers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="worker processes (default: one per core)"),
    ] = None,
) -> None:
    """Serve the API and portals."""
    workers = workers or default_workers()
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


def demo(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8080,
    seed: Annotated[bool, typer.Option("--seed/--no-seed", help="load the demo data")] = True,
) -> None:
    """Initialise OPENDMP_HOME, load synthetic demo data and serve, with the demo mailbox:
    every e-mail is delivered over SMTP to a loopback server and shown at /demo/mails."""
    from opendmp.devtools.demo import seed_demo
    from opendmp.notify.demo_mailbox import DemoMailbox

    started = time.perf_counter()
    try:
        s = load_settings(mode="demo", host=host, port=port)
        asyncio.run(initialise(s))
        mailbox = DemoMailbox(s.home).start()
        s = load_settings(
            mode="demo", host=host, port=port, smtp_host="127.0.0.1", smtp_port=mailbox.port
        )
        summary = None
        if seed:

            async def _seed() -> Any:
                rt = build_runtime(s)
                try:
                    seeded = await seed_demo(rt.ctx)
                    await _demo_vihf_signer(s, rt)
                    return seeded
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
    out.print(f"  demo mailbox (every e-mail OpenDMP sends): {s.base_url}/demo/mails")
    if summary is not None:
        table = Table(title="Demo identities (synthetic)")
        for col in ("who", "identifier", "role"):
            table.add_column(col)
        for who, ident, role in summary.identities:
            table.add_row(who, ident, role)
        out.print(table)
        out.print(f"  professional token: {_demo_token_command(s, summary)}")
        out.print(f"  XDS.b VIHF: {_demo_vihf_command(s)}", soft_wrap=True)
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
    finally:
        mailbox.stop()


@run
async def worker() -> None:
    """Deliver notifications (outbox), chain audit events, run retention and blob reaping,
    until Ctrl-C."""

    async def _do(rt: Runtime) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        sender = smtp_sender(rt.settings)
        configure_logging(rt.settings.log_level, rt.settings.log_format)
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

    await with_runtime(_do)


def _demo_patient_logins(s: Settings, summary: Any) -> list[tuple[str, str, str, str]]:
    """The demo patients' first credentials, kept (0600) in OPENDMP_HOME once generated:
    the one-time passwords exist nowhere else, and a second `make demo` prints them again."""
    from opendmp.web.site import DEMO_LOGINS_FILE

    path = s.home / DEMO_LOGINS_FILE
    if summary.patient_logins:
        write_private_file(path, json.dumps(summary.patient_logins).encode("utf-8"))
    if not path.exists():
        return []
    return [tuple(row) for row in json.loads(path.read_text(encoding="utf-8"))]


def _demo_token_command(s: Settings, summary: Any) -> str:
    from opendmp.devtools.demo import ESTABLISHMENT, PROFESSIONALS

    gp = next(p.actor for p in PROFESSIONALS if p.key == "gp")
    env = f"OPENDMP_HOME={s.home.resolve()}"
    if s.base_url != "http://127.0.0.1:8080":
        env += f" OPENDMP_PUBLIC_BASE_URL={s.base_url}"
    return (
        f"{env} opendmp token professional --idnat {gp.idnat} --profession {gp.profession}"
        f" --organization {ESTABLISHMENT}   (then: curl -H 'Authorization: Bearer <token>'"
        f" {s.base_url}/auth/whoami)"
    )


async def _demo_vihf_signer(s: Settings, rt: Runtime) -> None:
    """The demo establishment's VIHF signing key: created once, its public key registered
    (trusted like any establishment key: auth/vihf.py)."""
    from opendmp.auth.vihf_issuer import ensure_signer
    from opendmp.cli.common import operator
    from opendmp.devtools.demo import ESTABLISHMENT, ESTABLISHMENT_NAME
    from opendmp.domain.errors import Conflict
    from opendmp.services.directory import identity

    signer = ensure_signer(s.home, ESTABLISHMENT, ESTABLISHMENT_NAME)
    with contextlib.suppress(Conflict):  # registered by an earlier demo
        await identity.register_establishment_key(
            rt.ctx, actor=operator(), struct_idnat=ESTABLISHMENT, public_jwk=signer.public_jwk()
        )


def _demo_vihf_command(s: Settings) -> str:
    from opendmp.devtools.demo import ESTABLISHMENT, PATIENTS, PROFESSIONALS
    from opendmp.domain.identifiers import INS_NIR_TEST_OID

    gp = next(p.actor for p in PROFESSIONALS if p.key == "gp")
    return (
        f"OPENDMP_HOME={s.home.resolve()} opendmp vihf --idnat {gp.idnat} --profession "
        f"{gp.profession} --specialty {gp.specialty} --structure {ESTABLISHMENT} "
        f"--ins '{INS_NIR_TEST_OID}|{PATIENTS[0].ins}'"
    )
