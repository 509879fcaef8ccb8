"""Server CPU per document: XDS.b ITI-41 against FHIR ITI-65, the same 10 KB document
(issue 11, item 9: ITI-41 within 1.5x of ITI-65). `make bench-xds`; figures in
docs/benchmarks.md.

A live ``opendmp demo`` (SQLite, fresh home, loopback port) takes one-document deposits for
the demo GP and patient, one at a time, alternating ITI-65 and ITI-41 in rounds so that
machine noise falls on both alike. The server's own CPU (user + system, /proc) is read
around each round. The client prepares every body before the round (a VIHF is signed per
ITI-41 request: each is single-use), so its work is not counted.

    python benchmarks/iti41_cpu.py [--documents 200] [--rounds 5] [--size 10240]
"""

from __future__ import annotations

import argparse
import base64
import copy
import datetime as dt
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from lxml import etree

from opendmp.auth.vihf_issuer import VihfRequest, issue_vihf, load_signer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "examples"))
from xds_provide_and_retrieve import demo_submission  # noqa: E402

PATIENT = "1.2.250.1.213.1.4.10|280017512345610"
GP, STRUCTURE = "899700000013", "1750000010"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
XDSB = "urn:ihe:iti:xds-b:2007"
PNR = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pdf(size: int) -> bytes:
    """A PDF-typed document of ``size`` bytes (a comment pads it), unique per call."""
    head = b"%PDF-1.4\n% benchmark " + uuid.uuid4().hex.encode() + b"\n"
    tail = b"\n%%EOF\n"
    return head + b"%" + b"x" * max(0, size - len(head) - len(tail) - 1) + tail


def iti65_body(template: dict[str, object], content: bytes) -> bytes:
    bundle = copy.deepcopy(template)
    entries = bundle["entry"]
    assert isinstance(entries, list)
    entries[0]["resource"]["identifier"][0]["value"] = f"urn:oid:2.25.{uuid.uuid4().int}"
    doc = entries[1]["resource"]
    doc["masterIdentifier"]["value"] = f"urn:oid:2.25.{uuid.uuid4().int}"
    attachment = doc["content"][0]["attachment"]
    attachment["contentType"] = "application/pdf"
    attachment["size"] = len(content)
    attachment["hash"] = base64.b64encode(hashlib.sha1(content, usedforsecurity=False).digest())
    attachment["hash"] = attachment["hash"].decode()
    binary = entries[2]["resource"]
    binary["contentType"] = "application/pdf"
    binary["data"] = base64.b64encode(content).decode()
    return json.dumps(bundle).encode()


def iti41_body(vihf: bytes, content: bytes) -> bytes:
    objects, _ = demo_submission(PATIENT, GP, content)
    registry = "".join(etree.tostring(o).decode() for o in objects)
    return (
        f'<s:Envelope xmlns:s="{SOAP12}" xmlns:wsa="{WSA}"><s:Header>'
        f"<wsa:Action>{PNR}</wsa:Action><wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
        f'<wsse:Security xmlns:wsse="{WSSE}">{vihf.decode()}</wsse:Security></s:Header><s:Body>'
        f'<xdsb:ProvideAndRegisterDocumentSetRequest xmlns:xdsb="{XDSB}">'
        f'<lcm:SubmitObjectsRequest xmlns:lcm="{LCM}">'
        f'<rim:RegistryObjectList xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">'
        f"{registry}</rim:RegistryObjectList></lcm:SubmitObjectsRequest>"
        f'<xdsb:Document id="Document01">{base64.b64encode(content).decode()}</xdsb:Document>'
        "</xdsb:ProvideAndRegisterDocumentSetRequest></s:Body></s:Envelope>"
    ).encode()


def server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_demo(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDMP_")}
    env["OPENDMP_HOME"] = str(home)
    opendmp = Path(sys.executable).parent / "opendmp"
    proc = subprocess.Popen(
        [str(opendmp), "demo", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("opendmp demo was not ready in 60 s")


def token(home: Path, port: int) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDMP_")}
    env["OPENDMP_HOME"] = str(home)
    env["OPENDMP_PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"  # the issuer the demo trusts
    opendmp = Path(sys.executable).parent / "opendmp"
    args = ["token", "professional", "--idnat", GP, "--profession", "10"]
    args += ["--organization", STRUCTURE, "--ttl", "2h"]
    return subprocess.run(
        [str(opendmp), *args], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def run_round(
    http: httpx.Client, pid: int, path: str, bodies: list[bytes], headers: dict[str, str]
) -> float:
    """Server CPU seconds per document for ``bodies`` posted one after the other."""
    before = server_cpu(pid)
    for body in bodies:
        answer = http.post(path, content=body, headers=headers)
        if answer.status_code >= 300 or b"ResponseStatusType:Failure" in answer.content:
            raise SystemExit(f"{path}: {answer.status_code} {answer.text[:800]}")
    return (server_cpu(pid) - before) / len(bodies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=200, help="per protocol and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=10 * 1024)
    args = parser.parse_args()
    template = json.loads((ROOT / "docs" / "examples" / "iti65-bundle.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        home, port = Path(tmp) / "home", free_port()
        proc = start_demo(home, port)
        try:
            signer = load_signer(home, STRUCTURE)
            request = VihfRequest(
                idnat=GP, structure=STRUCTURE, patient_ins=PATIENT, profession="10"
            )
            fhir_headers = {
                "Authorization": f"Bearer {token(home, port)}",
                "Content-Type": "application/fhir+json",
            }
            soap_headers = {"Content-Type": "application/soap+xml; charset=utf-8"}
            ttl = dt.timedelta(hours=1)
            results: dict[str, list[float]] = {"ITI-65": [], "ITI-41": []}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
                for n in range(args.rounds + 1):  # round 0 warms up, uncounted
                    fhir = [iti65_body(template, pdf(args.size)) for _ in range(args.documents)]
                    now = dt.datetime.now(dt.UTC)
                    xds = [
                        iti41_body(issue_vihf(request, signer, now=now, ttl=ttl), pdf(args.size))
                        for _ in range(args.documents)
                    ]
                    a = run_round(http, proc.pid, "/fhir", fhir, fhir_headers)
                    b = run_round(http, proc.pid, "/xds/iti41", xds, soap_headers)
                    if n:
                        results["ITI-65"].append(a)
                        results["ITI-41"].append(b)
        finally:
            proc.terminate()
            proc.wait(30)
    report(results, args)


def report(results: dict[str, list[float]], args: argparse.Namespace) -> None:
    med = {k: sorted(v)[len(v) // 2] for k, v in results.items()}
    ratios = sorted(b / a for a, b in zip(results["ITI-65"], results["ITI-41"], strict=True))
    print(f"{args.rounds} rounds x {args.documents} documents of {args.size} bytes, SQLite")
    for name, values in results.items():
        shown = ", ".join(f"{v * 1000:.2f}" for v in values)
        print(f"  {name}: median {med[name] * 1000:.2f} ms server CPU/document ({shown})")
    print(f"  ITI-41 / ITI-65 per round: median {ratios[len(ratios) // 2]:.2f}")
    print(f"  (min {ratios[0]:.2f}, max {ratios[-1]:.2f}; target <= 1.5)")


if __name__ == "__main__":
    main()
