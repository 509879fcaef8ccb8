"""docs/api.md runs as written.

Every ```sh block of the document is run with bash, in order, against a live
``opendmp demo`` started here on a free port with a fresh OPENDMP_HOME. The blocks read
``${OPENDMP_URL:-http://127.0.0.1:8080}`` and ``OPENDMP_HOME`` (``./var`` by default, as for
``make demo``), so the test only exports those two. Shell variables and functions a block
defines (``TOKEN``, ``DOC``, ``field``…) are carried to the next blocks, as in one terminal.

A block must exit 0 under ``set -euo pipefail`` (its requests use ``curl -fsS``, so an HTTP
error fails it). A block demonstrating an error carries ``# expect: 405`` (or ``4xx``) and
prints ``HTTP <status>`` with ``curl -w``: every status it prints must match.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.demo_process import ROOT, clean_env, opendmp_demo
from tests.notify.smtp_support import free_port

DOC = ROOT / "docs" / "api.md"
# docs/xds.md: the ITI-18 curl and the ITI-41/43 zeep script, against the same demo.
XDS_DOC = ROOT / "docs" / "xds.md"
# docs/operations.md: backup, verify, restore into a new home, key rotation, upgrade, probes.
OPS_DOC = ROOT / "docs" / "operations.md"
XDS_SUCCESS = ("ResponseStatusType:Success", "ITI-41: Success", "ITI-43: Success")
BLOCK_RE = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
EXPECT_RE = re.compile(r"^# expect: ([0-9x]{3})\s*$", re.MULTILINE)
STATUS_RE = re.compile(r"^HTTP (\d{3})$", re.MULTILINE)
BLOCK_TIMEOUT = 60

# Runs one block: restores what the previous blocks defined, runs the block with errexit,
# then saves the variables and functions it leaves behind (bash's own variables and
# read-only ones excepted) for the next block.
RUNNER = r"""
__state=$1 __block=$2
__before=" $(compgen -v | tr '\n' ' ') "
source "$__state"
set -euo pipefail
source "$__block"
set +eu
{
  for __name in $(compgen -v); do
    case "$__name" in __*|BASH*|FUNCNAME|PIPESTATUS|_) continue ;; esac
    [[ "$__before" == *" $__name "* ]] && continue
    __decl=$(declare -p "$__name" 2>/dev/null) || continue
    [[ "$__decl" =~ ^declare\ -[a-zA-Z]*r ]] && continue
    printf '%s\n' "$__decl"
  done
  declare -f
} > "$__state.new" && mv "$__state.new" "$__state"
"""


@dataclass(frozen=True)
class Block:
    line: int
    code: str

    @property
    def expect(self) -> str | None:
        match = EXPECT_RE.search(self.code)
        return match.group(1) if match else None


def sh_blocks(text: str) -> list[Block]:
    return [
        Block(text.count("\n", 0, match.start()) + 1, match.group(1))
        for match in BLOCK_RE.finditer(text)
    ]


def _wait_ready(url: str, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"opendmp demo exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=1) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("opendmp demo was not ready in time")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A live ``opendmp demo`` on a free port; yields the environment the blocks run in."""
    for tool in ("bash", "curl", "python3"):
        if shutil.which(tool) is None:
            pytest.skip(f"docs/api.md needs {tool}")
    home = tmp_path_factory.mktemp("opendmp-demo-home")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env() | {"OPENDMP_HOME": str(home)}
    with (home.parent / "demo.log").open("wb") as log, opendmp_demo(home, port, log) as proc:
        _wait_ready(url, proc, time.monotonic() + 30)
        yield env | {"OPENDMP_URL": url, "TMPDIR": str(home.parent)}


def test_the_document_has_examples_of_every_api_transaction() -> None:
    code = "\n".join(b.code for b in sh_blocks(DOC.read_text(encoding="utf-8")))
    for path in (
        "/healthz",
        "$B/metadata",
        "$B/Patient",
        "$B/Consent",
        "$B/AuditEvent",
        "$B/DocumentReference",
        "$B/Binary",
        "$B/List",
        "-X PATCH",
        "docs/examples/iti65-bundle.json",
    ):
        assert path in code, f"docs/api.md has no example of {path}"


def test_every_sh_block_of_docs_api_runs_against_the_demo(
    demo: dict[str, str], tmp_path: Path
) -> None:
    run_blocks(DOC, demo, tmp_path)


def test_every_sh_block_of_docs_xds_runs_against_the_demo(
    demo: dict[str, str], tmp_path: Path
) -> None:
    printed = run_blocks(XDS_DOC, demo, tmp_path)
    for success in XDS_SUCCESS:
        assert success in printed, f"docs/xds.md: no '{success}' printed\n{printed[-3000:]}"


def test_every_sh_block_of_docs_operations_runs_against_the_demo(
    demo: dict[str, str], tmp_path: Path
) -> None:
    printed = run_blocks(OPS_DOC, demo, tmp_path)
    for line in ("backup written to ", "backup verified: ", "restored ", "audit trail intact"):
        assert line in printed, f"docs/operations.md: no '{line}' printed\n{printed[-3000:]}"


def run_blocks(doc: Path, demo: dict[str, str], tmp_path: Path) -> str:
    """Run every ```sh block of ``doc`` in order, as a reader would; what they printed."""
    blocks = sh_blocks(doc.read_text(encoding="utf-8"))
    assert blocks, f"no ```sh block in {doc.name}"
    printed = ""
    state = tmp_path / "state.sh"
    state.write_text("")
    runner = tmp_path / "runner.sh"
    runner.write_text(RUNNER)
    for n, block in enumerate(blocks, 1):
        script = tmp_path / f"block-{n}.sh"
        script.write_text(block.code)
        done = subprocess.run(
            ["bash", str(runner), str(state), str(script)],
            cwd=ROOT,
            env=demo,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT,
            check=False,
        )
        where = (
            f"docs/{doc.name} block {n} (line {block.line}) exited {done.returncode}\n"
            f"--- block\n{block.code}--- stdout\n{done.stdout[-3000:]}\n"
            f"--- stderr\n{done.stderr[-3000:]}"
        )
        assert done.returncode == 0, where
        printed += done.stdout
        statuses = STATUS_RE.findall(done.stdout)
        if block.expect is None:
            continue
        pattern = block.expect.replace("x", r"\d")
        assert statuses, f"no 'HTTP <status>' line printed\n{where}"
        for status in statuses:
            assert re.fullmatch(pattern, status), f"HTTP {status}, expected {block.expect}\n{where}"
    return printed
