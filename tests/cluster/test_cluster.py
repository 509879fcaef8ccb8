"""Two OpenDMP nodes behave as one (issue 14, item 2; docs/deployment.md): ``make
cluster-test``.

A fresh PostgreSQL database on the local server, an aiosmtpd sink, two ``opendmp serve``
processes (same database, blob store and keys, each running its background workers) and
haproxy with deploy/haproxy.cfg in front, round-robin. A bounded mixed load goes through
haproxy — ITI-105 deposits, ITI-67 searches, ITI-68 retrievals, patient-portal sign-ins with
TOTP — while node2 is killed with SIGKILL and restarted. Then:

- no acknowledged document is lost or altered (each 201 retrievable, same bytes);
- a portal session opened on one node works on the other; a TOTP code used on one node is
  refused on the other; the sign-in rate limit counts the attempts made on both;
- every notification is delivered exactly once (the few a killed worker had in hand at the
  kill may come twice, with the same Message-ID: at least once is the outbox's promise);
- every audit chain verifies (``opendmp audit verify``); no INS in either node's log.

Blob store: an S3 bucket both nodes share, on moto's S3 server (tests/s3_support.py), which
speaks the S3 HTTP API on loopback: the nodes use the real client, as in production. Runs
only with ``OPENDMP_CLUSTER_TEST=1`` (the make target sets it), PostgreSQL
(``OPENDMP_CLUSTER_DATABASE_URL``, default the local server) and haproxy installed.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyotp
import pytest
from sqlalchemy import func, select

from opendmp.app import Runtime, build_runtime
from opendmp.blobs import MasterKey
from opendmp.cli.server import initialise
from opendmp.config import load_settings
from opendmp.domain.actors import Patient, Professional
from opendmp.domain.identifiers import Ins
from opendmp.notify.smtp import message_id_for
from opendmp.services.access.preferences import set_notification_preferences
from opendmp.storage import models as m
from tests.api.provide_support import FHIR_JSON
from tests.auth_support import AUDIENCE, CERT_HEADER, ESTABLISHMENT, GP, PSC, PSC_ISSUER
from tests.cluster.cluster_support import (
    Node,
    Tls,
    fresh_database,
    haproxy,
    make_tls,
    node_env,
    until,
)
from tests.faults.fault_support import iti105
from tests.notify.smtp_support import SmtpServer, free_port
from tests.s3_support import (
    TEST_CREDENTIALS,
    new_store_url,
    start_moto_server,
    use_test_credentials,
)
from tests.services.document_support import grant
from tests.services.patient_accounts import NEW_PASSWORD, enrolled
from tests.services.patient_accounts import Patient as Account
from tests.web.conftest import csrf_of

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("OPENDMP_CLUSTER_TEST") != "1", reason="make cluster-test only"
    ),
    pytest.mark.skipif(
        shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists(),
        reason="haproxy is not installed (make cluster-test installs it)",
    ),
]

ADMIN_URL = os.environ.get(
    "OPENDMP_CLUSTER_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
PATIENTS = 6
MAX_PAGES = 50  # of 100 documents: a patient's whole list, page by page
DEPOSITORS = 3
READERS = 2
LOAD_SECONDS = 20.0
KILL_AT, DOWN_FOR = 5.0, 3.0  # seconds into the load; how long node2 stays dead
AFTER_RESTART = 5.0  # seconds of load once node2 is back
TIMEOUT = 20.0
GP_ACTOR = Professional(GP, "10", "SM54", organization=ESTABLISHMENT, name="TESTPRO Dominique")


@dataclass
class Figures:
    requests: int = 0
    acknowledged: dict[str, tuple[Ins, bytes]] = field(default_factory=dict)
    errors: list[tuple[float, str, int | str]] = field(default_factory=list)  # (t, what, status)
    mismatched: list[str] = field(default_factory=list)
    sign_ins: int = 0
    kill: tuple[float, float] = (0.0, 0.0)  # load-relative: killed, node2 back in rotation
    load_seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def now(self) -> float:
        return time.monotonic() - self.started

    def error(self, what: str, status: int | str) -> None:
        self.errors.append((self.now(), what, status))

    def in_kill_window(self, at: float) -> bool:
        # From the kill until haproxy sees node2 back (rise 2 checks, 2 s apart).
        return self.kill[0] <= at <= self.kill[1] + 5.0


@dataclass
class Cluster:
    url: str
    nodes: list[Node]
    rt: Runtime
    smtp: SmtpServer
    accounts: list[Account]
    env: dict[str, str]
    tls: Tls

    def client(self, **options: Any) -> httpx.AsyncClient:
        """A client of haproxy (TLS)."""
        return httpx.AsyncClient(base_url=self.url, verify=self.tls.context, **options)


def object_store() -> dict[str, str]:
    """A fresh bucket on a moto S3 server started here: the settings that select it."""
    use_test_credentials()  # this process's runtime reads the bucket too
    endpoint = start_moto_server()
    return {
        "OPENDMP_BLOB_STORE": new_store_url(endpoint),
        "OPENDMP_S3_ENDPOINT_URL": endpoint,
        **TEST_CREDENTIALS,
    }


def settings_env(
    home: Path, database_url: str, master_key: str, smtp_port: int, tls: Tls
) -> dict[str, str]:
    jwks = home.parent / "psc-jwks.json"
    jwks.write_text(json.dumps(PSC.public_jwks()))
    issuers = [{"issuer": PSC_ISSUER, "audience": AUDIENCE, "jwks_file": str(jwks)}]
    return {
        "OPENDMP_MODE": "development",
        "OPENDMP_HOME": str(home),
        "OPENDMP_DATABASE_URL": database_url,
        "OPENDMP_MASTER_KEY": master_key,
        "OPENDMP_OIDC_ISSUERS": json.dumps(issuers),
        "OPENDMP_SMTP_PORT": str(smtp_port),
        "OPENDMP_WORKER_INTERVAL_SECONDS": "0.5",
        "OPENDMP_OUTBOX_LEASE_SECONDS": "5",
        "OPENDMP_COOKIE_SECURE": "false",
        "OPENDMP_TRUSTED_PROXIES": "127.0.0.1",
        "OPENDMP_CLIENT_CA_FILE": str(tls.client_ca),
        "OPENDMP_CLIENT_CERT_HEADER": CERT_HEADER,
        "OPENDMP_LOGIN_RATE_PER_MINUTE": "1000",  # every client here is 127.0.0.1
        "OPENDMP_DB_POOL_SIZE": "5",
        "OPENDMP_LOG_FORMAT": "json",
        **object_store(),
    }


async def prepare(rt: Runtime) -> list[Account]:
    """Records with an enrolled patient account each, the GP authorised, the patient told of
    every new document (so that deposits make e-mails)."""
    accounts = []
    for _ in range(PATIENTS + 1):  # the last one is for the rate-limit check
        account = await enrolled(rt.ctx, step_back=True)
        await grant(rt.ctx, account.ins, GP_ACTOR)
        await set_notification_preferences(
            rt.ctx,
            actor=Patient(str(account.ins)),
            ins=account.ins,
            on_access=True,
            on_new_document=True,
            mask_new_documents=False,
        )
        accounts.append(account)
    return accounts


@pytest.fixture(scope="module")
def tmp_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Homes and logs; ``OPENDMP_CLUSTER_LOGS=DIR`` keeps them in DIR (emptied first)."""
    kept = os.environ.get("OPENDMP_CLUSTER_LOGS")
    if not kept:
        return tmp_path_factory.mktemp("cluster")
    shutil.rmtree(kept, ignore_errors=True)
    Path(kept).mkdir(parents=True)
    return Path(kept)


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
async def cluster(tmp_home: Path, smtp: SmtpServer) -> AsyncIterator[Cluster]:
    master_key = base64.b64encode(MasterKey.generate().raw).decode()
    tls = make_tls(tmp_home)
    async with fresh_database(ADMIN_URL, f"opendmp_cluster_{os.getpid()}") as database_url:
        env = settings_env(tmp_home / "home", database_url, master_key, smtp.port, tls)
        settings = load_settings(
            home=env["OPENDMP_HOME"],
            database_url=database_url,
            master_key=master_key,
            run_worker_in_process=False,
            blob_store=env["OPENDMP_BLOB_STORE"],
            s3_endpoint_url=env["OPENDMP_S3_ENDPOINT_URL"],
        )
        await initialise(settings)
        rt = build_runtime(settings)
        try:
            accounts = await prepare(rt)
            nodes = [Node(f"node{i}", node_env(env), tmp_home) for i in (1, 2)]
            for node in nodes:
                node.start()
            try:
                for node in nodes:
                    node.wait_ready()
                with haproxy(nodes, tmp_home, tls) as url:
                    yield Cluster(url, nodes, rt, smtp, accounts, node_env(env), tls)
            finally:
                for node in nodes:
                    node.stop()
        finally:
            await rt.close()


# --- the load ---------------------------------------------------------------------------------


def bearer(scope: str) -> dict[str, str]:
    now = dt.datetime.now(dt.UTC)
    return {"Authorization": f"Bearer {PSC.token(now, aud=AUDIENCE, scope=scope)}"}


class Load:
    def __init__(self, http: httpx.AsyncClient, cluster: Cluster, figures: Figures):
        self.http = http
        self.cluster = cluster
        self.accounts = cluster.accounts
        self.figures = figures
        self.stop = asyncio.Event()
        self.serial = 0

    async def call(self, what: str, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        self.figures.requests += 1
        try:
            response = await self.http.request(method, path, timeout=TIMEOUT, **kwargs)
        except httpx.HTTPError as exc:
            self.figures.error(what, type(exc).__name__)
            return None
        if response.status_code >= 500:
            self.figures.error(what, response.status_code)
        return response

    async def depositor(self) -> None:
        while not self.stop.is_set():
            self.serial += 1
            n = self.serial
            ins = self.accounts[n % PATIENTS].ins
            unique_id, body = iti105(ins, n)
            headers = {**bearer("ITI-105"), "Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
            response = await self.call(
                "deposit", "POST", "/fhir/DocumentReference", content=body, headers=headers
            )
            if response is not None and response.status_code == 201:
                data = orjson.loads(body)["content"][0]["attachment"]["data"]
                self.figures.acknowledged[unique_id] = (ins, base64.b64decode(data))

    async def reader(self) -> None:
        while not self.stop.is_set():
            if not self.figures.acknowledged:
                await asyncio.sleep(0.1)
                continue
            unique_id = random.choice(list(self.figures.acknowledged))
            await self.check_document(unique_id)

    async def check_document(self, unique_id: str) -> bool | None:
        """ITI-67 then ITI-68: True when the bytes are those deposited, None on an error."""
        ins = self.figures.acknowledged[unique_id][0]
        found = await self.search(ins)
        if found is None:
            return None
        return await self.check_retrieval(unique_id, found.get(unique_id))

    async def search(self, ins: Ins) -> dict[str, str] | None:
        """ITI-67: the patient's current documents, uniqueId → retrieval path, page after page
        (the ``next`` link carries the cursor)."""
        found: dict[str, str] = {}
        path = "/fhir/DocumentReference"
        params: dict[str, str] = {
            "patient.identifier": f"{ins.system}|{ins.value}",
            "status": "current",
            "_count": "100",
        }
        for _ in range(MAX_PAGES):
            search = await self.call(
                "search",
                "GET",
                path,
                params=params,
                headers={**bearer("ITI-67"), "Accept": FHIR_JSON},
            )
            if search is None or search.status_code != 200:
                return None
            bundle = search.json()
            found |= {
                e["resource"]["masterIdentifier"]["value"].removeprefix("urn:oid:"): "/fhir/"
                + e["resource"]["content"][0]["attachment"]["url"].split("/fhir/", 1)[1]
                for e in bundle.get("entry", [])
            }
            following = [
                link["url"] for link in bundle.get("link", []) if link["relation"] == "next"
            ]
            if not following:
                return found
            url = httpx.URL(following[0])
            path, params = url.path, dict(url.params)
        raise AssertionError(f"more than {MAX_PAGES} pages for one patient")

    async def check_retrieval(self, unique_id: str, path: str | None) -> bool | None:
        """ITI-68 of ``path``: the bytes deposited as ``unique_id``, or None on an error."""
        if path is None:
            self.figures.mismatched.append(f"{unique_id}: not found by the search")
            return False
        read = await self.call("retrieve", "GET", path, headers=bearer("ITI-68"))
        if read is None or read.status_code != 200:
            return None
        if read.content != self.figures.acknowledged[unique_id][1]:
            self.figures.mismatched.append(f"{unique_id}: other bytes")
            return False
        return True

    async def check_all(self) -> None:
        """After the load: each patient's documents searched once, each acknowledged one
        retrieved and compared."""
        for account in self.accounts[:PATIENTS]:
            found = await self.search(account.ins)
            assert found is not None, "a search failed after the load"
            for unique_id, (ins, _) in list(self.figures.acknowledged.items()):
                if (
                    ins == account.ins
                    and await self.check_retrieval(unique_id, found.get(unique_id)) is not True
                ):
                    self.figures.mismatched.append(f"{unique_id}: not retrievable after the load")

    async def portal(self) -> None:
        """Each patient signs in once (password + TOTP) and reads their documents."""
        for account in self.accounts[:PATIENTS]:
            async with self.cluster.client() as browser:
                if await portal_sign_in(browser, account, when=dt.datetime.now(dt.UTC)) == 303:
                    self.figures.sign_ins += 1
                    home = await browser.get("/patient", timeout=TIMEOUT)
                    if home.status_code != 200:
                        self.figures.error("portal", home.status_code)
                else:
                    self.figures.error("sign-in", "refused")
            await asyncio.sleep(LOAD_SECONDS / (2 * PATIENTS))


async def portal_sign_in(
    browser: httpx.AsyncClient, account: Account, *, when: dt.datetime, password: str = ""
) -> int:
    """The sign-in form posted with the password and the TOTP code of ``when``."""
    assert account.secret is not None
    page = await browser.get("/patient/connexion", timeout=TIMEOUT)
    response = await browser.post(
        "/patient/connexion",
        data={
            "csrf_token": csrf_of(page.text) if page.status_code == 200 else "",
            "login": account.login,
            "password": password or NEW_PASSWORD,
            "code": pyotp.TOTP(account.secret).at(when),
        },
        timeout=TIMEOUT,
    )
    return response.status_code


async def kill_and_restart(node: Node, figures: Figures, rt: Runtime) -> set[str]:
    """SIGKILL ``node`` mid-load, restart it; returns the Message-IDs of the notifications
    leased by a worker at the kill (the killed one may have handed them to the relay)."""
    await asyncio.sleep(KILL_AT)
    node.kill()
    killed_at = figures.now()
    async with rt.ctx.sessions() as session:
        leased = (
            await session.execute(
                select(m.Outbox.id).where(
                    m.Outbox.status == "pending",
                    m.Outbox.next_attempt_at > dt.datetime.now(dt.UTC),
                )
            )
        ).scalars()
        in_hand = {message_id_for(str(i)) for i in leased}
    await asyncio.sleep(DOWN_FOR)
    node.start()
    await asyncio.to_thread(node.wait_ready)
    figures.kill = (killed_at, figures.now())
    return in_hand


async def run_load(cluster: Cluster, figures: Figures) -> set[str]:
    async with cluster.client() as http:
        load = Load(http, cluster, figures)
        workers = [asyncio.create_task(load.depositor()) for _ in range(DEPOSITORS)]
        workers += [asyncio.create_task(load.reader()) for _ in range(READERS)]
        workers.append(asyncio.create_task(load.portal()))
        in_hand = await kill_and_restart(cluster.nodes[1], figures, cluster.rt)
        # Until the restarted node has taken its share for a while too.
        await asyncio.sleep(max(LOAD_SECONDS - figures.now(), AFTER_RESTART))
        load.stop.set()
        await asyncio.gather(*workers)
        figures.load_seconds = figures.now()
        await load.check_all()  # through haproxy: every acknowledged document, whole
    return in_hand


# --- properties checked node by node ------------------------------------------------------------


async def check_session_and_totp_across_nodes(cluster: Cluster) -> None:
    """Signed in on node1: the session works on node2; the code used on node1 is refused by
    node2 (and by node1 again)."""
    first, second = cluster.nodes
    account = cluster.accounts[0]
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)  # a step no sign-in used yet
    async with httpx.AsyncClient(base_url=first.url) as on_first:
        assert await portal_sign_in(on_first, account, when=when) == 303
        cookies = on_first.cookies
        async with httpx.AsyncClient(base_url=second.url, cookies=cookies) as on_second:
            home = await on_second.get("/patient", timeout=TIMEOUT)
            assert home.status_code == 200, home.text
            assert "/patient/connexion" not in str(home.url)
    for node in (second, first):
        async with httpx.AsyncClient(base_url=node.url) as other:
            replayed = await portal_sign_in(other, account, when=when)
            assert replayed != 303, f"{node.name} accepted a TOTP code used on node1"
            assert replayed in {401, 429}, replayed


async def check_rate_limit_across_nodes(cluster: Cluster) -> None:
    """Wrong passwords on one login, alternately on node1 and node2: the limit (5 a minute)
    is reached after 5 attempts in all, not 5 on each node."""
    account = cluster.accounts[PATIENTS]
    statuses = []
    for attempt in range(6):
        node = cluster.nodes[attempt % 2]
        async with httpx.AsyncClient(base_url=node.url) as browser:
            statuses.append(
                await portal_sign_in(
                    browser, account, when=dt.datetime.now(dt.UTC), password="wrong password"
                )
            )
    # Counted per node, 6 alternated attempts would be 3 on each, never refused. The account's
    # own sign-in when it was set up may still be in the minute's window (a fast run): the
    # refusal then comes one attempt earlier.
    assert 429 in statuses, statuses
    refused_from = statuses.index(429)
    assert refused_from >= 4, statuses
    assert statuses == [401] * refused_from + [429] * (6 - refused_from), statuses


async def check_mail_exactly_once(cluster: Cluster, in_hand: set[str]) -> tuple[int, int]:
    """With both workers running, each outbox row reaches the sink once; returns (rows,
    duplicates among those a killed worker had in hand)."""

    async def drained() -> bool:
        async with cluster.rt.ctx.sessions() as session:
            pending = await session.scalar(
                select(func.count()).where(m.Outbox.status != "sent").select_from(m.Outbox)
            )
        return pending == 0

    await until(drained, timeout=30, what="the outbox drained by the two workers")
    async with cluster.rt.ctx.sessions() as session:
        ids = {
            message_id_for(str(i)) for i in (await session.execute(select(m.Outbox.id))).scalars()
        }
    seen = cluster.smtp.inbox.message_ids()
    assert set(seen) == ids, "an e-mail was lost, or one came from nowhere"
    twice = {mid for mid, count in seen.items() if count > 1}
    assert twice <= in_hand, f"sent twice without a kill: {sorted(twice - in_hand)}"
    return len(ids), len(twice)


async def check_cards_through_haproxy(cluster: Cluster) -> None:
    """The card of the TLS handshake reaches OpenDMP in the header haproxy sets; the same
    header sent by a client without a card is removed on the way; /metrics is not public."""
    async with httpx.AsyncClient(base_url=cluster.url, verify=cluster.tls.card) as with_card:
        me = await with_card.get("/auth/whoami", timeout=TIMEOUT)
    assert me.status_code == 200, me.text
    assert (me.json()["mechanism"], me.json()["id"]) == ("certificate", GP)
    forged = {CERT_HEADER: urllib.parse.quote(cluster.tls.card_pem.decode())}
    async with cluster.client() as without:
        refused = await without.get("/auth/whoami", headers=forged, timeout=TIMEOUT)
        metrics = await without.get("/metrics", timeout=TIMEOUT)
    assert refused.status_code == 401, refused.text
    assert metrics.status_code == 403  # from the monitoring network only


def audit_verify(cluster: Cluster) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "opendmp", "audit", "verify"],
        env=cluster.env | {"OPENDMP_RUN_WORKER_IN_PROCESS": "false"},
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


def check_logs(cluster: Cluster) -> int:
    """Every node log line is JSON; none carries an INS; returns the request lines."""
    requests = 0
    secrets = [a.ins.value for a in cluster.accounts]
    for node in cluster.nodes:
        for line in node.log.read_text().splitlines():
            if not line.startswith("{"):
                continue  # the command's own banner
            entry = json.loads(line)
            assert not any(s in line for s in secrets), line
            requests += entry.get("logger") == "opendmp.access"
    return requests


def requests_after_restart(node: Node) -> int:
    """Requests (not haproxy's health checks) node2 logged after its restart."""
    lines = node.log.read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("OpenDMP ")]
    assert len(starts) == 2, starts
    after = [json.loads(line) for line in lines[starts[1] :] if line.startswith("{")]
    return sum(e["logger"] == "opendmp.access" and e["route"] != "/readyz" for e in after)


async def test_two_nodes_behind_haproxy_lose_nothing_when_one_is_killed(
    cluster: Cluster,
) -> None:
    figures = Figures()
    in_hand = await run_load(cluster, figures)
    await check_session_and_totp_across_nodes(cluster)
    await check_rate_limit_across_nodes(cluster)
    await check_cards_through_haproxy(cluster)
    mails, duplicates = await check_mail_exactly_once(cluster, in_hand)
    audit_verify(cluster)
    logged = check_logs(cluster)
    served_after_restart = requests_after_restart(cluster.nodes[1])
    outside = [e for e in figures.errors if not figures.in_kill_window(e[0])]
    print(
        f"\ncluster: {figures.requests} requests through haproxy (load {figures.load_seconds:.1f}s,"
        f" test {figures.now():.1f}s), "
        f"{len(figures.acknowledged)} documents acknowledged, lost 0 (checked "
        f"{len(figures.acknowledged) - len(figures.mismatched)}), "
        f"{len(figures.errors)} errors during the kill window "
        f"({figures.kill[0]:.1f}s-{figures.kill[1]:.1f}s), {figures.sign_ins} portal sign-ins, "
        f"{mails} e-mails ({duplicates} sent twice after the kill), {logged} request log lines"
        f"\nerrors: {collections.Counter((what, status) for _, what, status in figures.errors)}"
    )
    assert not figures.mismatched, figures.mismatched
    assert not outside, f"errors outside the kill window: {outside}"
    assert len(figures.acknowledged) > 50
    assert figures.sign_ins == PATIENTS
    assert served_after_restart > 0, "node2 never came back into rotation"
