"""``establishment``: establishments' assertion keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from opendmp.cli.common import operator, out, run, with_runtime
from opendmp.domain.errors import InvalidInput

establishment_app = typer.Typer(help="Establishments' assertion keys.", no_args_is_help=True)


@establishment_app.command("register-key")
@run
async def establishment_register_key(
    organization: Annotated[str, typer.Option("--organization", help="Struct_IdNat")],
    jwk: Annotated[Path, typer.Option("--jwk", help="public JWK (JSON file)")],
) -> None:
    """Register a public key an establishment signs its staff assertions with."""

    from opendmp.services.directory import identity

    try:
        public = json.loads(jwk.read_text())
    except (OSError, ValueError) as error:
        raise InvalidInput(f"cannot read the JWK file: {error}", code="invalid-jwk") from None
    if not isinstance(public, dict):
        raise InvalidInput("the JWK file holds no JSON object", code="invalid-jwk")
    view = await with_runtime(
        lambda rt: identity.register_establishment_key(
            rt.ctx, actor=operator(), struct_idnat=organization, public_jwk=public
        )
    )
    out.print(f"registered key {view.kid} for {view.struct_idnat}")


@establishment_app.command("revoke-key")
@run
async def establishment_revoke_key(
    organization: Annotated[str, typer.Option("--organization", help="Struct_IdNat")],
    kid: Annotated[str, typer.Option("--kid")],
) -> None:
    """Revoke an establishment key: its assertions are refused from now on."""
    from opendmp.services.directory import identity

    await with_runtime(
        lambda rt: identity.revoke_establishment_key(
            rt.ctx, actor=operator(), struct_idnat=organization, kid=kid
        )
    )
    out.print(f"revoked key {kid} of {organization}")
