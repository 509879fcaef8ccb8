"""Fuzz establishment assertions (the VIHF JWT an establishment's software signs).

Target: ``opendmp.auth.assertions.verify_assertion`` for an establishment whose
certificate has been verified, on a real SQLite database made at start-up in a temporary
folder with the establishment's key registered (keys looked up, ``jti`` burnt on
success). Inputs are raw header values or assertions correctly signed by the registered
key over fuzzed header and payload bytes (see ``fuzz_jwt``).
A crash is any exception other than ``Unauthenticated`` (401: ``invalid-assertion``,
``assertion-key-unknown``, ``assertion-too-long``, ``assertion-replayed``…) or
``AccessDenied`` (403: ``assertion-structure-mismatch``, ``justification-required``).

Run: ``python fuzz/assertions.py -runs=1000000 fuzz/corpus/assertions``
(``make fuzz-parsers``).
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import tempfile
from pathlib import Path

from fuzz_jwt import Signer, token_of
from fuzz_support import NOW, is_refusal, main

from opendmp.auth.assertions import verify_assertion
from opendmp.auth.certificates import Establishment
from opendmp.blobs import EncryptedBlobs, FilesystemBlobStore, Keyring, MasterKey
from opendmp.domain.actors import Operator
from opendmp.services.core.context import ServiceContext
from opendmp.services.directory import identity
from opendmp.storage.db import make_engine, make_sessionmaker
from opendmp.storage.migrate import upgrade

STRUCTURE = "1750000010"  # a FINESS-based Struct_IdNat (synthetic)
AUDIENCE = "opendmp"
SIGNER = Signer("fuzz-establishment-key")
ESTABLISHMENT = Establishment(
    STRUCTURE, "Centre de test", is_test=True, certificate_sha256="0" * 64
)
LOOP = asyncio.new_event_loop()


def _context() -> ServiceContext:
    """A migrated SQLite database in a temporary folder, the establishment's key registered."""
    home = Path(tempfile.mkdtemp(prefix="opendmp-fuzz-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    engine = make_engine(f"sqlite+aiosqlite:///{home / 'opendmp.db'}", pool_size=1)
    blobs = home / "blobs"
    blobs.mkdir()
    ctx = ServiceContext(
        sessions=make_sessionmaker(engine),
        blobs=EncryptedBlobs(FilesystemBlobStore(blobs)),
        master_key=MasterKey.generate(),
        keyring=Keyring(home / "keys"),
        clock=lambda: NOW,
    )

    async def prepare() -> None:
        await upgrade(engine)
        await identity.register_establishment_key(
            ctx, actor=Operator("fuzz"), struct_idnat=STRUCTURE, public_jwk=SIGNER.public_jwk()
        )

    LOOP.run_until_complete(prepare())
    atexit.register(lambda: LOOP.run_until_complete(engine.dispose()))
    return ctx


CTX = _context()


def test_one_input(data: bytes) -> None:
    token = token_of(data, SIGNER).strip()
    try:
        LOOP.run_until_complete(
            verify_assertion(CTX, token, ESTABLISHMENT, audience=AUDIENCE, now=NOW)
        )
    except Exception as error:
        if not is_refusal(error):
            raise


if __name__ == "__main__":
    main(test_one_input, "joserfc", "fuzz_jwt")
