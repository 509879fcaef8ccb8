"""Authentication routes: who am I, and the development issuer's public keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from opendmp.auth import dev_issuer
from opendmp.auth.dependencies import Authenticator, CurrentAuth
from opendmp.domain.actors import Professional
from opendmp.domain.errors import NotFound

router = APIRouter(tags=["authentication"])


@router.get("/auth/whoami")
async def whoami(auth: CurrentAuth) -> dict[str, Any]:
    """The authenticated actor, as the access policy will see it."""
    actor = auth.actor
    professional = actor if isinstance(actor, Professional) else None
    return {
        "kind": actor.kind.value,
        "id": actor.actor_id,
        "name": actor.name,
        "profession": professional.profession if professional else None,
        "specialty": professional.specialty if professional else None,
        "organization": professional.organization if professional else None,
        "card_kind": professional.card_kind.value if professional else None,
        "access_mode": actor.access_mode.value,
        "justification": professional.justification if professional else None,
        "mechanism": auth.mechanism,
        "scopes": sorted(auth.scopes) if auth.scopes is not None else None,
        "assertion_patient_ins": auth.assertion_patient_ins,
    }


@router.get(dev_issuer.JWKS_PATH, include_in_schema=False)
async def dev_issuer_jwks(request: Request) -> JSONResponse:
    authenticator: Authenticator = request.app.state.authenticator
    if authenticator.dev is None:
        raise NotFound("the development issuer is off", code="not-found")
    return JSONResponse(authenticator.dev.jwks())
