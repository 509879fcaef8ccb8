"""Records' data keys under key-encryption keys by epoch, and their rotation
(docs/security.md, "Crypto-shredding").

* A new record's data key is wrapped by the KEK of the current epoch, read from
  ``key_state`` with a shared lock (so no rotation can retire that epoch meanwhile).
* :func:`rotate_epoch` opens a new epoch (fresh KEK file, then ``key_state``), re-wraps
  every surviving record's data key under it in batches (one transaction each: a crash
  leaves every row under a KEK that still exists), and finally erases the KEK files no row
  references. It can be interrupted at any point and run again.
* Retention calls it after destructions; ``opendmp keys rotate`` calls it under a new master
  key. Rows written before epochs existed (``kek_epoch`` NULL, wrapped by the master key
  itself) are moved by the first rotation, or by :func:`ensure_epochs` at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from opendmp.blobs import MasterKey, erase_orphans, new_data_key
from opendmp.domain.errors import KeyFailure
from opendmp.services.core.context import ServiceContext
from opendmp.storage import models as m

__all__ = [
    "EpochRotation",
    "SealedDataKey",
    "Sealer",
    "data_key_sealer",
    "ensure_epochs",
    "live_epochs",
    "open_data_key",
    "require_key",
    "rewrap_kept_keks",
    "rotate_epoch",
    "seal_new_data_key",
    "shredding_pending",
]

STATE_ID = 1
DEFAULT_BATCH = 500


@dataclass(frozen=True, slots=True)
class SealedDataKey:
    """A record's data key as stored: wrapped, and by what."""

    wrapped: bytes
    epoch: int | None
    master_key_id: str | None


@dataclass(frozen=True, slots=True)
class EpochRotation:
    epoch: int
    records: int
    erased: tuple[int, ...]


def master_keys(ctx: ServiceContext) -> tuple[MasterKey, ...]:
    """The current master key, then the one an unfinished rotation replaced (if any)."""
    if ctx.previous_master_key is None:
        return (ctx.master_key,)
    return (ctx.master_key, ctx.previous_master_key)


def open_data_key(ctx: ServiceContext, sealed: SealedDataKey) -> bytes:
    return ctx.keyring.unwrap(
        sealed.wrapped,
        epoch=sealed.epoch,
        master_key_id=sealed.master_key_id,
        masters=master_keys(ctx),
    )


# --- the current epoch ------------------------------------------------------------------------


async def _state(session: AsyncSession, *, exclusive: bool) -> m.KeyState | None:
    query = select(m.KeyState).where(m.KeyState.id == STATE_ID)
    query = query.with_for_update() if exclusive else query.with_for_update(read=True)
    return (await session.execute(query)).scalar_one_or_none()


async def _locked_state(ctx: ServiceContext, session: AsyncSession) -> m.KeyState:
    """The state row under an exclusive lock, created (at epoch 0) if missing."""
    state = await _state(session, exclusive=True)
    if state is None:
        try:
            async with session.begin_nested():
                await session.execute(
                    insert(m.KeyState).values(id=STATE_ID, current_epoch=0, shredded_upto=0)
                )
        except IntegrityError:
            pass  # created concurrently: read it below
        state = await _state(session, exclusive=True)
        assert state is not None
    return state


async def _tombstones(session: AsyncSession) -> int:
    return int(
        (await session.execute(select(func.count()).select_from(m.RecordTombstone))).scalar_one()
    )


async def _open_epoch(ctx: ServiceContext, session: AsyncSession, state: m.KeyState) -> int:
    """Make a new epoch current: its KEK file is durable before the row says so.

    A crash between the two leaves an orphan file for an epoch the database never named;
    the number is past every file on disk, so no existing KEK is ever overwritten, and the
    end of the next rotation erases the orphan.
    """
    epoch = max([state.current_epoch, *ctx.keyring.epochs()]) + 1
    ctx.keyring.create(epoch, ctx.master_key)
    state.current_epoch = epoch
    state.shredded_upto = await _tombstones(session)
    state.rotated_at = ctx.now()
    await session.flush()
    return epoch


Sealer = Callable[[bytes], dict[str, object]]


async def data_key_sealer(ctx: ServiceContext, session: AsyncSession) -> Sealer:
    """What turns a new record's data key into its column values, under the current epoch.

    Call it in the record's own transaction: the shared lock it takes on ``key_state``
    holds off a rotation until the record is committed, so the rotation then re-wraps it.
    """
    state = await _state(session, exclusive=False)
    if state is None or state.current_epoch == 0:
        # First record of an installation (or a database emptied by hand): open epoch 1.
        state = await _locked_state(ctx, session)
        if state.current_epoch == 0:
            await _open_epoch(ctx, session, state)
    epoch = state.current_epoch
    masters = master_keys(ctx)
    master_key_id = ctx.keyring.master_key_id(epoch)

    def seal(data_key: bytes) -> dict[str, object]:
        return {
            "wrapped_data_key": ctx.keyring.wrap(epoch, masters, data_key),
            "master_key_id": master_key_id,
            "kek_epoch": epoch,
        }

    return seal


async def seal_new_data_key(ctx: ServiceContext, session: AsyncSession) -> dict[str, object]:
    """Column values of a new record's fresh data key (see :func:`data_key_sealer`)."""
    return (await data_key_sealer(ctx, session))(new_data_key())


# --- rotation ---------------------------------------------------------------------------------


def _behind(epoch: int) -> ColumnElement[bool]:
    """Rows whose data key is still wrapped by an older epoch (or by the master key)."""
    return (m.Record.wrapped_data_key.is_not(None)) & or_(
        m.Record.kek_epoch.is_(None), m.Record.kek_epoch < epoch
    )


async def _rewrap_batch(ctx: ServiceContext, epoch: int, batch: int) -> int:
    async with ctx.uow() as uow:
        rows = (
            await uow.session.execute(
                select(
                    m.Record.id,
                    m.Record.wrapped_data_key,
                    m.Record.kek_epoch,
                    m.Record.master_key_id,
                )
                .where(_behind(epoch))
                .order_by(m.Record.id)
                .limit(batch)
                .with_for_update()
            )
        ).all()
        masters = master_keys(ctx)
        master_key_id = ctx.keyring.master_key_id(epoch)
        for record_id, wrapped, old_epoch, old_master in rows:
            assert wrapped is not None  # filtered by _behind
            data_key = open_data_key(ctx, SealedDataKey(wrapped, old_epoch, old_master))
            await uow.session.execute(
                update(m.Record)
                .where(m.Record.id == record_id)
                .values(
                    wrapped_data_key=ctx.keyring.wrap(epoch, masters, data_key),
                    kek_epoch=epoch,
                    master_key_id=master_key_id,
                )
            )
        await uow.commit()
    return len(rows)


async def _rewrap_all(ctx: ServiceContext, epoch: int, batch: int) -> int:
    moved = 0
    while count := await _rewrap_batch(ctx, epoch, batch):
        moved += count
    return moved


async def live_epochs(session: AsyncSession) -> set[int | None]:
    """The epochs some record's data key is wrapped by (None: by the master key)."""
    rows = await session.execute(
        select(m.Record.kek_epoch).where(m.Record.wrapped_data_key.is_not(None)).distinct()
    )
    return set(rows.scalars())


async def _erase_retired(ctx: ServiceContext) -> tuple[int, ...]:
    """Erase every KEK file that neither the current epoch nor any record needs.

    Under the exclusive lock no record can be created meanwhile under an old epoch, and the
    re-wrapped rows are already committed: the files erased are needed by nothing.
    """
    async with ctx.uow() as uow:
        state = await _locked_state(ctx, uow.session)
        keep = {e for e in await live_epochs(uow.session) if e is not None}
        erased = erase_orphans(ctx.keyring, keep | {state.current_epoch})
        await uow.commit()
    return tuple(erased)


async def rotate_epoch(ctx: ServiceContext, *, batch: int = DEFAULT_BATCH) -> EpochRotation:
    """Open a new epoch, re-wrap every surviving data key under it, erase the old KEKs."""
    async with ctx.uow() as uow:
        state = await _locked_state(ctx, uow.session)
        epoch = await _open_epoch(ctx, uow.session, state)
        await uow.commit()
    moved = await _rewrap_all(ctx, epoch, batch)
    return EpochRotation(epoch, moved, await _erase_retired(ctx))


async def rewrap_kept_keks(ctx: ServiceContext) -> None:
    """After a master-key rotation: re-wrap under the current master key any KEK still
    wrapped by the previous one (kept because a concurrent rotation's rows need it)."""
    for epoch in ctx.keyring.epochs():
        if ctx.keyring.master_key_id(epoch) != ctx.master_key.key_id:
            ctx.keyring.rewrap(epoch, master_keys(ctx), ctx.master_key)
            async with ctx.uow() as uow:
                await uow.session.execute(
                    update(m.Record)
                    .where(m.Record.kek_epoch == epoch)
                    .values(master_key_id=ctx.master_key.key_id)
                )
                await uow.commit()


async def shredding_pending(ctx: ServiceContext) -> bool:
    """Has a record been destroyed since the current epoch began (its key still live)?"""
    async with ctx.sessions() as session:
        state = await _state(session, exclusive=False)
        return await _tombstones(session) > (state.shredded_upto if state is not None else 0)


async def ensure_epochs(ctx: ServiceContext, *, batch: int = DEFAULT_BATCH) -> int:
    """Start-up and upgrade: open epoch 1 if none, move rows wrapped by the master key to the
    current epoch, and refuse to go on if a KEK that records need is missing. Returns the
    number of rows moved."""
    async with ctx.uow() as uow:
        state = await _locked_state(ctx, uow.session)
        if state.current_epoch == 0:
            await _open_epoch(ctx, uow.session, state)
        epoch = state.current_epoch
        await uow.commit()
    moved = 0
    if await _any_behind(ctx, epoch):  # rows from before epochs, or an interrupted rotation
        moved = await _rewrap_all(ctx, epoch, batch)
        await _erase_retired(ctx)
    async with ctx.sessions() as session:
        needed = {e for e in await live_epochs(session) if e is not None} | {epoch}
    for needed_epoch in sorted(needed):
        ctx.keyring.kek(needed_epoch, master_keys(ctx))  # raises kek-missing / key mismatch
    return moved


async def _any_behind(ctx: ServiceContext, epoch: int) -> bool:
    async with ctx.sessions() as session:
        found = await session.execute(select(m.Record.id).where(_behind(epoch)).limit(1))
        return found.first() is not None


def require_key(sealed: SealedDataKey | None) -> SealedDataKey:
    if sealed is None:
        raise KeyFailure("this record's data key was destroyed", code="record-shredded")
    return sealed
