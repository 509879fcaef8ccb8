"""``keys``: encryption keys."""

from __future__ import annotations

import typer

from opendmp.app import Runtime
from opendmp.blobs import MasterKey, erase_previous_master_key, write_master_key
from opendmp.cli.common import operator, out, run, settings, with_runtime
from opendmp.domain.errors import InvalidInput
from opendmp.services.operations import maintenance

keys_app = typer.Typer(help="Encryption keys.", no_args_is_help=True)


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

    count, new_key, resumed = await with_runtime(_do)
    if resumed:
        out.print("resumed an interrupted rotation")
    out.print(f"re-wrapped {count} data key(s); master key is now {new_key.key_id}")
