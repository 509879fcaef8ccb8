"""What every command group shares: the consoles, the operator, settings and runtime
loading, the ``--ins`` option, and the one-line error with its stable code."""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from opendmp.app import Runtime, build_runtime
from opendmp.audit.sequencer import sequence_all
from opendmp.config import Settings, load_settings
from opendmp.domain.actors import Operator
from opendmp.domain.errors import OpenDMPError
from opendmp.domain.identifiers import Ins, parse_ins_reference

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 1000)
T = TypeVar("T")

InsOption = Annotated[str, typer.Option("--ins", help="INS as OID|VALUE, or VALUE")]
# What a development credential (``token professional``, ``vihf``) asks for.
PurposeOption = Annotated[str, typer.Option("--purpose", help="normal | break-glass | regulation")]
ReasonOption = Annotated[str | None, typer.Option("--reason", help="break-glass justification")]
TtlOption = Annotated[str, typer.Option("--ttl", help="lifetime: 90s, 10m, 2h")]


def operator() -> Operator:
    return Operator(
        login=os.environ.get("OPENDMP_OPERATOR", f"cli:{os.environ.get('USER', 'operator')}")
    )


def settings() -> Settings:
    return load_settings()


def fail(exc: OpenDMPError) -> NoReturn:
    """One line on stderr with the error's stable code, exit code 1."""
    err.print(f"[red]error:[/red] {exc.message} [dim]({exc.code})[/dim]", highlight=False)
    raise typer.Exit(1) from None


def run(coro_fn: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """Run an async command; turn OpenDMP errors into one line on stderr and exit code 1."""

    @functools.wraps(coro_fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return asyncio.run(coro_fn(*args, **kwargs))
        except OpenDMPError as exc:
            fail(exc)

    return wrapper


async def with_runtime(fn: Callable[[Runtime], Coroutine[Any, Any, T]]) -> T:
    rt = build_runtime(settings())
    try:
        from opendmp.storage.migrate import ensure_up_to_date

        await ensure_up_to_date(rt.engine)
        result = await fn(rt)
        # A command is a node that stops: it chains the audit events it wrote (and any left
        # by others) before it exits, as the worker's sequencer would (audit/sequencer.py).
        await sequence_all(rt.ctx.sessions)
        return result
    finally:
        await rt.close()


def parse_ins_option(text: str, rt: Runtime) -> Ins:
    return parse_ins_reference(text, rt.ctx.default_ins_oid)
