"""The kind of actor a request was authenticated as, kept on the request for its log line
and metrics (opendmp.observability): a kind, never an identity."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from opendmp.domain.actors import ActorKind

ANONYMOUS = "anonymous"
_STATE_KEY = "actor_kind"


def note_actor_kind(request: Request, kind: ActorKind) -> None:
    """Record who the request acts as (called where authentication succeeds)."""
    setattr(request.state, _STATE_KEY, kind.value)


def actor_kind_of(state: dict[str, Any]) -> str:
    """The kind noted in a request's ``scope["state"]``, or ``anonymous``."""
    kind = state.get(_STATE_KEY)
    return kind if isinstance(kind, str) else ANONYMOUS
