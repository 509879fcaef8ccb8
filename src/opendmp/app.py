"""Composition root: settings -> engine, blob store, keys -> services -> FastAPI app."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException as StarletteHTTPException

from opendmp import __version__, web
from opendmp.audit.sequencer import run_sequencer
from opendmp.auth.dependencies import Authenticator
from opendmp.auth.proxies import ForwardedHeaders, TrustedProxies
from opendmp.auth.routes import router as auth_router
from opendmp.blobs import (
    EncryptedBlobs,
    FilesystemBlobStore,
    Keyring,
    MasterKey,
    load_or_create_master_key,
    read_previous_master_key,
)
from opendmp.blobs.select import open_blob_store
from opendmp.config import CreationMode, Mode, Settings
from opendmp.dispatch import dispatch_by_first_segment
from opendmp.domain.actors import Professional
from opendmp.domain.errors import ConfigurationError, OpenDMPError
from opendmp.domain.identifiers import INS_NIR_OID, INS_NIR_TEST_OID
from opendmp.domain.opt_out import OptOutRules
from opendmp.domain.records import RetentionRules
from opendmp.fhir import api as fhir_api
from opendmp.notify.outbox import outbox_backlog
from opendmp.notify.smtp import SmtpSender
from opendmp.notify.worker import run_worker
from opendmp.observability import Metrics, RequestLog
from opendmp.services.core.context import AccessRules, AuthRules, CredentialTrust, ServiceContext
from opendmp.services.core.matrix_loader import load_matrix
from opendmp.services.operations.health import check_ready, prepare_keys
from opendmp.services.operations.maintenance import reap_leftovers, run_retention
from opendmp.services.records.opt_out import run_openings
from opendmp.storage.availability import DATABASE_UNAVAILABLE, is_database_unavailable
from opendmp.storage.db import make_engine, make_sessionmaker
from opendmp.storage.migrate import ensure_up_to_date
from opendmp.storage.private_files import loose_paths, make_private_dir
from opendmp.xds import api as xds_api
from opendmp.xds import iti18 as _iti18  # noqa: F401 - registers the ITI-18 handler
from opendmp.xds import iti41 as _iti41  # noqa: F401 - registers the ITI-41 handler
from opendmp.xds import iti43 as _iti43  # noqa: F401 - registers the ITI-43 handler
from opendmp.xds import iti57 as _iti57  # noqa: F401 - registers the ITI-57 handler

log = logging.getLogger("opendmp")
MAINTENANCE_INTERVAL_SECONDS = 3600


async def maintenance_loop(rt: Runtime, *, interval: float = MAINTENANCE_INTERVAL_SECONDS) -> None:
    """Background work of ``serve`` (in process) or ``opendmp worker``: the leftovers of a
    crash (orphan blobs, temp files) at once at start-up, then, every ``interval``, those
    again and retention.

    Errors are logged (without health data) and retried at the next tick; the loop never
    takes the server down.
    """
    await _maintenance_tick(rt, retention=False)
    while True:
        await asyncio.sleep(interval)
        await _maintenance_tick(rt, retention=True)


async def _maintenance_tick(rt: Runtime, *, retention: bool) -> None:
    grace = dt.timedelta(seconds=rt.settings.blob_grace_seconds)
    try:
        left = await reap_leftovers(rt.ctx, grace=grace)
        destroyed = (await run_retention(rt.ctx)).destroyed if retention else 0
        log.info(
            "maintenance reaped=%d temporaries=%d destroyed=%d",
            left.orphan_blobs,
            left.temporary_files,
            destroyed,
        )
    except Exception:
        log.exception("maintenance tick failed")


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    ctx: ServiceContext

    async def close(self) -> None:
        await self.engine.dispose()
        await self.ctx.blobs.store.close()
        if self.ctx.replica is not None:
            await self.ctx.replica.kw["bind"].dispose()


def smtp_sender(settings: Settings) -> SmtpSender:
    return SmtpSender(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_sender,
        use_starttls=settings.smtp_starttls,
        username=settings.smtp_username,
        password=settings.smtp_password,
    )


def start_outbox_worker(rt: Runtime, stop: asyncio.Event) -> asyncio.Task[None]:
    """The worker loop: the outbox, and beside it the audit sequencer (audit/sequencer.py)
    and the opening of announced records (services/records/opt_out.py)."""

    async def both() -> None:
        await asyncio.gather(
            run_worker(
                rt.ctx.sessions,
                smtp_sender(rt.settings),
                interval=rt.settings.worker_interval_seconds,
                stop=stop,
                clock=rt.ctx.clock,
                lease=dt.timedelta(seconds=rt.settings.outbox_lease_seconds),
            ),
            run_sequencer(
                rt.ctx.sessions, interval=rt.settings.audit_sequencer_interval_seconds, stop=stop
            ),
            run_openings(rt.ctx, interval=rt.settings.worker_interval_seconds, stop=stop),
        )

    return asyncio.create_task(both())


async def stop_outbox_worker(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    """Let the message in hand be recorded, then give up waiting (its row stays leased)."""
    stop.set()
    # On timeout wait_for cancels it; the rows it had leased are sent after the lease.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(task, timeout=15)


def load_master_key(settings: Settings, *, create: bool) -> MasterKey:
    if settings.master_key:
        return MasterKey.from_base64(settings.master_key)
    return load_or_create_master_key(settings.key_dir, create=create)


def home_problem(settings: Settings) -> str | None:
    """One line naming what under OPENDMP_HOME other users can reach, or ``None``."""
    loose = loose_paths(settings.home, shallow=(settings.blob_dir,))
    if not loose:
        return None
    path, mode = loose[0]
    more = f" (and {len(loose) - 1} more)" if len(loose) > 1 else ""
    return (
        f"{path} is accessible to other users (mode {mode:04o}){more}: files under "
        f"OPENDMP_HOME must be 0600 and folders 0700 (chmod -R go-rwx {settings.home})"
    )


def check_home(settings: Settings, *, warn: Callable[[str], None] = log.warning) -> None:
    """Production refuses to start when something under OPENDMP_HOME is group/other
    accessible (names, INS, keys in clear); other modes warn (docs/security.md)."""
    problem = home_problem(settings)
    if problem is None:
        return
    if settings.mode is Mode.PRODUCTION:
        raise ConfigurationError(problem, code="home-not-private")
    warn(problem)


def build_runtime(settings: Settings, *, create_key: bool = False) -> Runtime:
    """Wire the engine, the blob store and the keys into the services' context."""
    engine = make_engine(settings.effective_database_url, pool_size=settings.db_pool_size)
    store = open_blob_store(settings)
    if isinstance(store, FilesystemBlobStore):
        make_private_dir(store.root)
    ctx = ServiceContext(
        sessions=make_sessionmaker(engine),
        blobs=EncryptedBlobs(store),
        master_key=load_master_key(settings, create=create_key),
        keyring=Keyring(settings.key_dir),
        previous_master_key=None
        if settings.master_key
        else read_previous_master_key(settings.key_dir),
        retention=RetentionRules(settings.retention_years, settings.early_destruction_days),
        opt_out=OptOutRules(
            enabled=settings.creation_mode is CreationMode.OPT_OUT,
            objection_period=dt.timedelta(days=settings.opt_out_objection_days),
        ),
        default_ins_oid=INS_NIR_OID if settings.mode is Mode.PRODUCTION else INS_NIR_TEST_OID,
        accept_test_ins=settings.mode is not Mode.PRODUCTION,
        access=AccessRules(
            authorization_validity=dt.timedelta(days=settings.authorization_validity_days),
            emergency_access_duration=dt.timedelta(hours=settings.emergency_access_hours),
            delegation_invitation_validity=dt.timedelta(days=settings.delegation_invitation_days),
            blocked_may_deposit=settings.blocked_may_deposit,
        ),
        matrix=load_matrix(settings.access_matrix_file),
        base_url=settings.base_url,
        limits=settings.request_limits,
        trust=CredentialTrust(
            audience=settings.token_audience,
            client_ca_file=settings.client_ca_file,
            client_crl_file=settings.client_crl_file,
            production=settings.mode is Mode.PRODUCTION,
        ),
        auth=AuthRules(
            session_idle=dt.timedelta(minutes=settings.session_idle_minutes),
            session_absolute=dt.timedelta(hours=settings.session_absolute_hours),
            login_rate_per_address=settings.login_rate_per_minute,
            login_rate_per_account=settings.login_rate_per_account_per_minute,
            password_reset_rate=settings.password_reset_rate_per_hour,
        ),
        replica=make_sessionmaker(make_engine(settings.database_replica_url))
        if settings.database_replica_url
        else None,
    )
    return Runtime(settings, engine, ctx)


def _lifespan(
    settings: Settings, rt: Runtime, *, owns_runtime: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start-up (migrations checked, keys, in-process workers) and shutdown."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await ensure_up_to_date(rt.engine)
        await prepare_keys(rt.ctx)
        task = asyncio.create_task(maintenance_loop(rt)) if settings.run_worker_in_process else None
        stop_outbox = asyncio.Event()
        outbox = start_outbox_worker(rt, stop_outbox) if settings.run_worker_in_process else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
            if outbox is not None:
                await stop_outbox_worker(outbox, stop_outbox)
            if owns_runtime:
                await rt.close()

    return lifespan


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OpenDMPError)
    async def domain_error(request: Request, exc: OpenDMPError) -> Response:
        if fhir_api.is_fhir(request):
            return fhir_api.fhir_error(request, exc)
        if web.is_portal(request):
            return await web.error_response(request, exc)
        headers = {}
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            headers["Retry-After"] = str(int(retry_after))
        return JSONResponse(
            {"error": exc.code, "message": exc.message},
            status_code=exc.http_status,
            headers=headers,
        )

    @app.exception_handler(SQLAlchemyError)
    @app.exception_handler(OSError)
    async def infrastructure_error(request: Request, exc: Exception) -> Response:
        """The database out of reach is a 503 the caller can retry, not a server error
        (docs/security.md, "Faults"); anything else stays an unexpected error."""
        if not is_database_unavailable(exc):
            raise exc
        log.warning("database unavailable: %s", type(exc).__name__)
        return await domain_error(request, DATABASE_UNAVAILABLE)


def _install_http_error_pages(app: FastAPI) -> None:
    """HTTP errors (no route, method not allowed) as HTML pages except under the APIs, which
    keep the handler installed before (OperationOutcome, JSON; docs/portals.md)."""
    api_error = app.exception_handlers[StarletteHTTPException]

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if web.site.answers_html(request.url.path):
            return await web.site.http_error_page(request, exc)
        response: Response = await api_error(request, exc)  # type: ignore[misc]
        return response


def _install_probes(app: FastAPI, rt: Runtime, metrics: Metrics) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        status = await check_ready(rt.ctx)
        ok = all(v == "ok" for v in status.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", **status}, status_code=200 if ok else 503
        )

    async def outbox_depth() -> float:
        backlog = await outbox_backlog(rt.ctx.sessions, rt.ctx.now())
        metrics.outbox_lag.set(backlog.lag_seconds)
        return backlog.depth

    metrics.queue_probes["outbox"] = outbox_depth

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        await metrics.read_queues()  # a scrape answers even when the database does not
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _demo_staff() -> list[tuple[str, Professional, str]]:
    """The demo's staff, offered by the professional portal's development sign-in; the demo
    data is imported only where the development issuer is on."""
    from opendmp.devtools.demo import DESK, PROFESSIONALS

    return [(p.key, p.actor, p.role) for p in (DESK, *PROFESSIONALS)]


def _demo_guide() -> dict[str, list[tuple[str, ...]]]:
    """What the landing page tells a demo user (web/site.py): the people without a DMP the
    desk or online creation can open one for."""
    from opendmp.devtools.demo import people_without_record

    return {"people": people_without_record()}


def create_app(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    """Build the ASGI app. The database must be migrated: the app refuses to start if not;
    in production, it refuses a home that other users can read (``check_home``)."""
    check_home(settings)
    rt = runtime or build_runtime(settings)
    metrics = Metrics()
    app = FastAPI(
        title="OpenDMP",
        version=__version__,
        lifespan=_lifespan(settings, rt, owns_runtime=runtime is None),
        debug=settings.debug,
        docs_url="/docs" if settings.mode is not Mode.PRODUCTION else None,
        redoc_url=None,
    )
    app.state.runtime = rt
    app.state.authenticator = Authenticator(settings, rt.ctx)
    app.state.demo_staff = _demo_staff() if app.state.authenticator.dev is not None else []
    app.state.demo_guide = _demo_guide() if settings.mode is Mode.DEMO else {}
    app.include_router(auth_router)

    app.add_middleware(fhir_api.UnexpectedErrors)
    app.add_middleware(xds_api.XdsUnexpectedErrors)
    app.add_middleware(RequestLog, metrics=metrics)  # logs and counts the catch-all's 500s
    # Added last, so it runs first: everything after sees the client's address (auth.proxies).
    app.add_middleware(ForwardedHeaders, proxies=TrustedProxies(settings.trusted_proxies))

    fhir_api.install(app)
    app.include_router(xds_api.router)  # IHE XDS.b over SOAP (docs/xds.md)
    web.install(app)
    _install_error_handlers(app)
    _install_http_error_pages(app)
    _install_probes(app, rt, metrics)
    dispatch_by_first_segment(app)  # last: every route is in place
    return app


def serving_app(settings: Settings) -> FastAPI:
    """The app a server process runs (``opendmp serve``, each of its workers). What exists
    by now (modules, the app and its routes) lives as long as the process: ``gc.freeze``
    keeps the cycle collector from walking it again at every full collection, which cost a
    few percent of a request's CPU (docs/benchmarks.md)."""
    app = create_app(settings)
    gc.collect()
    gc.freeze()
    return app
