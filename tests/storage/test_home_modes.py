"""Issue 12 item 5: everything under OPENDMP_HOME is private to OpenDMP's user (files 0600,
folders 0700), whatever the umask of the shell that runs ``opendmp``; production refuses to
start when something there is group/other-accessible, development warns
(docs/security.md, "Files under OPENDMP_HOME").

The home is made by the real command (a subprocess of the installed ``opendmp`` entry
point, started with the common umask 022). File modes are a property of the embedded
SQLite home; a PostgreSQL deployment keeps only blobs and keys there, created by the same
code (the blob store's and keys' own tests check their modes).
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opendmp.app import check_home, create_app
from opendmp.blobs import MasterKey
from opendmp.cli import app
from opendmp.config import Settings, load_settings
from opendmp.domain.errors import ConfigurationError
from opendmp.storage.db import make_engine
from opendmp.storage.migrate import upgrade
from tests.factories import make_ins, make_professional

OPENDMP = Path(sys.executable).parent / "opendmp"
PRODUCTION = {
    "OPENDMP_MODE": "production",
    "OPENDMP_MASTER_KEY": base64.b64encode(MasterKey.generate().raw).decode(),
    "OPENDMP_BEHIND_TLS_PROXY": "true",
    # Never reached: the home is checked before anything connects.
    "OPENDMP_DATABASE_URL": "postgresql+asyncpg://opendmp@127.0.0.1:1/unused",
}


@pytest.fixture(autouse=True)
def _only_the_home_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OPENDMP_"):
            monkeypatch.delenv(name)


def opendmp(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("OPENDMP_")}
    return subprocess.run(
        [str(OPENDMP), *args],
        env={**clean, "OPENDMP_HOME": str(home), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=lambda: os.umask(0o022),  # the usual shell umask: files would be 0644
    )


def modes(home: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(home.stat().st_mode)}
    for path in home.rglob("*"):
        found[path.relative_to(home).as_posix()] = stat.S_IMODE(path.lstat().st_mode)
    return found


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("pristine") / "home"
    done = opendmp(home, "init")
    assert done.returncode == 0, done.stderr
    return home


@pytest.fixture
def home(pristine: Path, tmp_path: Path) -> Path:
    """A copy of a home made by ``opendmp init`` (``copytree`` keeps the modes)."""
    return Path(shutil.copytree(pristine, tmp_path / "home"))


def test_a_home_made_by_the_cli_is_private_to_its_user(home: Path) -> None:
    ins, idnat = str(make_ins(901)), make_professional(1).idnat
    created = opendmp(
        home, "record", "create", "--ins", ins, "--birth-name", "FICTIF", "--given", "Alex",
        "--birth-date", "1980-01-15", "--sex", "F", "--email", "alex@example.org",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    # In-process (no entry point, so this process's umask 022 applies): the explicit modes
    # of the test CA, the cards and the development issuer's key.
    runner, env = CliRunner(), {"OPENDMP_HOME": str(home), "OPENDMP_DEV_ISSUER": "true"}
    steps = [
        ["pki", "init"],
        ["pki", "issue-card", "--idnat", idnat, "--profession", "10", "--name", "FICTIF Jo"],
        ["token", "professional", "--idnat", idnat, "--profession", "10"],
    ]
    previous = os.umask(0o022)
    try:
        for step in steps:
            result = runner.invoke(app, step, env=env)
            assert result.exit_code == 0, (step, result.output)
    finally:
        os.umask(previous)

    found = modes(home)
    assert {"opendmp.db", "blobs", "keys/master.key", "pki/ca.key", "pki/ca.pem"} <= set(found)
    assert any(name.startswith("pki/cards/") for name in found)
    loose = {
        name: oct(mode)
        for name, mode in found.items()
        if mode != (0o700 if (home / name).is_dir() else 0o600)
    }
    assert loose == {}


async def test_the_database_and_its_wal_are_created_0600_whatever_the_umask(
    tmp_path: Path,
) -> None:
    previous = os.umask(0o022)
    try:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'opendmp.db'}")
        try:
            await upgrade(engine)
            async with engine.connect() as conn:  # WAL and shared memory exist while open
                await conn.exec_driver_sql("SELECT 1")
                files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
        finally:
            await engine.dispose()
    finally:
        os.umask(previous)
    assert files == {"opendmp.db": 0o600, "opendmp.db-wal": 0o600, "opendmp.db-shm": 0o600}


def production(home: Path) -> Settings:
    return load_settings(home=home, **{k[8:].lower(): v for k, v in PRODUCTION.items()})


def test_production_serve_refuses_to_start_on_a_home_others_can_read(home: Path) -> None:
    os.chmod(home / "opendmp.db", 0o644)

    done = opendmp(home, "serve", "--port", "1", env=PRODUCTION)

    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: {home / 'opendmp.db'} is accessible to other users")
    assert lines[0].endswith("(home-not-private)")


@pytest.mark.parametrize(
    ("loosened", "mode"), [(".", 0o750), ("blobs", 0o705), ("keys/master.key", 0o604)]
)
def test_production_start_up_names_the_first_path_others_can_reach(
    home: Path, loosened: str, mode: int
) -> None:
    os.chmod(home / loosened, mode)
    settings = production(home)

    with pytest.raises(ConfigurationError) as refused:
        create_app(settings)

    assert refused.value.code == "home-not-private"
    assert str(refused.value.message).startswith(
        f"{home / loosened} is accessible to other users (mode {mode:04o})"
    )


def test_a_private_home_passes_the_production_check(home: Path) -> None:
    check_home(production(home))


def test_development_warns_and_starts(home: Path, caplog: pytest.LogCaptureFixture) -> None:
    os.chmod(home / "opendmp.db", 0o644)
    with caplog.at_level(logging.WARNING, logger="opendmp"):
        create_app(load_settings(home=home, mode="development"))
    assert f"{home / 'opendmp.db'} is accessible to other users (mode 0644)" in caplog.text


def test_init_reports_what_it_did_not_create(home: Path) -> None:
    os.chmod(home / "keys", 0o755)  # noqa: S103
    env = {"OPENDMP_HOME": str(home)}

    warned = CliRunner().invoke(app, ["init"], env=env)
    refused = opendmp(home, "init", env=PRODUCTION)

    assert warned.exit_code == 0
    assert f"warning: {home / 'keys'} is accessible" in warned.stderr
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"error: {home / 'keys'} is accessible")
    assert refused.stderr.strip().endswith("(home-not-private)")
