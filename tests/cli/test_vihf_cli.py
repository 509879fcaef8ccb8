"""``opendmp vihf``: the VIHF it prints verifies against the home it was made for, once
``opendmp demo``'s step has created and registered the demo establishment's key."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from lxml import etree
from typer.testing import CliRunner, Result

from opendmp.app import build_runtime
from opendmp.auth.vihf import VihfIdentity, authenticate_vihf
from opendmp.cli import app
from opendmp.cli.server import _demo_vihf_command, _demo_vihf_signer
from opendmp.config import load_settings
from opendmp.devtools.demo import ESTABLISHMENT, PROFESSIONALS
from opendmp.domain.actors import AccessMode
from tests.factories import make_ins
from tests.vihf_support import PARSER

GP = next(p.actor for p in PROFESSIONALS if p.key == "gp")
INS = make_ins(905)


@pytest.fixture(autouse=True)
def _only_the_home_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OPENDMP_"):
            monkeypatch.delenv(name)


def run(home: Path, *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"OPENDMP_HOME": str(home)})


def vihf_args(*extra: str) -> list[str]:
    return [
        "vihf",
        "--idnat",
        GP.idnat,
        "--profession",
        "10",
        "--specialty",
        "SM54",
        "--structure",
        ESTABLISHMENT,
        "--ins",
        str(INS),
        *extra,
    ]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    assert run(tmp_path, "init").exit_code == 0
    return tmp_path


async def on_home(home: Path, text: str | None = None) -> VihfIdentity | None:
    """Run demo's VIHF-key step on ``home`` (twice: the second changes nothing), then verify
    ``text`` against the home's database."""
    rt = build_runtime(load_settings(home=home))
    try:
        await _demo_vihf_signer(rt.settings, rt)
        await _demo_vihf_signer(rt.settings, rt)
        if text is None:
            return None
        return await authenticate_vihf(rt.ctx, etree.fromstring(text.encode(), PARSER))
    finally:
        await rt.close()


def test_the_printed_vihf_verifies_once_the_demo_key_is_registered(home: Path) -> None:
    missing = run(home, *vihf_args())
    assert missing.exit_code == 1 and "(vihf-key-missing)" in missing.stderr
    asyncio.run(on_home(home))
    args = vihf_args("--purpose", "break-glass", "--reason", "urgence", "--ttl", "5m")
    result = run(home, *args)
    assert result.exit_code == 0, result.stderr
    found = asyncio.run(on_home(home, result.stdout.strip()))
    assert found is not None
    assert (found.actor.idnat, found.actor.organization) == (GP.idnat, ESTABLISHMENT)
    assert (found.actor.access_mode, found.vihf.justification) == (
        AccessMode.BREAK_GLASS,
        "urgence",
    )
    assert found.vihf.patient_ins == str(INS)


def test_the_demo_prints_a_vihf_command_for_its_gp(home: Path) -> None:
    command = _demo_vihf_command(load_settings(home=home))
    assert f"--idnat {GP.idnat}" in command and f"--structure {ESTABLISHMENT}" in command


def test_a_break_glass_vihf_without_reason_is_refused(home: Path) -> None:
    asyncio.run(on_home(home))
    result = run(home, *vihf_args("--purpose", "break-glass"))
    assert result.exit_code == 1 and "(justification-required)" in result.stderr
    assert "(invalid-purpose)" in run(home, *vihf_args("--purpose", "curious")).stderr
