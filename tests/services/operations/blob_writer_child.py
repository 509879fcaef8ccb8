"""Child process of test_leftovers.py, killed with SIGKILL by the test: it writes through the
real blob store as a deposit does (``EncryptedBlobs.put_document``).

``python -m tests.services.operations.blob_writer_child BLOB_ROOT RECORD_ID``:

1. stores a small document and prints ``stored <blob key>``: its deposit's transaction never
   comes (the kill), so that blob is an orphan;
2. starts storing a 64 MiB document: the test kills the process mid-write, leaving the
   store's ``.tmp-*`` file. It prints ``finished`` if it ever gets that far.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from opendmp.blobs import EncryptedBlobs, FilesystemBlobStore

LARGE = 64 << 20


async def main(root: Path, record_id: str) -> None:
    blobs = EncryptedBlobs(FilesystemBlobStore(root))
    data_key = os.urandom(32)
    stored = await blobs.put_document(
        data_key=data_key, record_id=record_id, document_id="2.25.1", content=b"%PDF-1.4 x"
    )
    print(f"stored {stored}", flush=True)
    content = os.urandom(LARGE)
    await blobs.put_document(
        data_key=data_key, record_id=record_id, document_id="2.25.2", content=content
    )
    print("finished", flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
