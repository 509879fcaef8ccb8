"""``token``: development bearer tokens."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from opendmp.cli.common import InsOption, PurposeOption, ReasonOption, TtlOption, run, settings
from opendmp.config import Settings
from opendmp.domain.errors import InvalidInput

token_app = typer.Typer(help="Development bearer tokens.", no_args_is_help=True)


def _dev_issuer(s: Settings) -> Any:
    from opendmp.auth.dependencies import build_dev_issuer
    from opendmp.config import Mode

    if s.mode is Mode.PRODUCTION:
        raise InvalidInput(
            "the development issuer is refused in production", code="dev-issuer-refused"
        )
    return build_dev_issuer(s)


@token_app.command("professional")
@run
async def token_professional(
    idnat: Annotated[str, typer.Option("--idnat", help="IdNat_PS")],
    profession: Annotated[str | None, typer.Option("--profession")] = None,
    specialty: Annotated[str | None, typer.Option("--specialty")] = None,
    organization: Annotated[str | None, typer.Option("--organization", help="Struct_IdNat")] = None,
    purpose: PurposeOption = "normal",
    reason: ReasonOption = None,
    ttl: TtlOption = "10m",
    name: Annotated[str | None, typer.Option("--name")] = None,
    card_kind: Annotated[str | None, typer.Option("--card-kind", help="CPS | CPE")] = None,
    scope: Annotated[str | None, typer.Option("--scope", help="IUA scopes")] = None,
) -> None:
    """Print a development bearer token for a professional."""
    from opendmp.auth import dev_issuer
    from opendmp.services.core.context import utcnow

    s = settings()
    token = _dev_issuer(s).professional_token(
        idnat=idnat,
        now=utcnow(),
        ttl=dev_issuer.parse_ttl(ttl),
        profession=profession,
        specialty=specialty,
        organization=organization,
        card_kind=card_kind.upper() if card_kind else None,
        name=name,
        purpose=purpose,
        reason=reason,
        scope=scope or dev_issuer.DEFAULT_SCOPES,
    )
    print(token)


@token_app.command("patient")
@run
async def token_patient(
    ins: InsOption,
    ttl: TtlOption = "10m",
) -> None:
    """Print a development bearer token for a patient."""
    from opendmp.auth import dev_issuer
    from opendmp.config import Mode
    from opendmp.domain.identifiers import INS_NIR_OID, INS_NIR_TEST_OID
    from opendmp.services.core.context import utcnow

    s = settings()
    default_oid = INS_NIR_OID if s.mode is Mode.PRODUCTION else INS_NIR_TEST_OID
    token = _dev_issuer(s).patient_token(
        ins=ins, default_oid=default_oid, now=utcnow(), ttl=dev_issuer.parse_ttl(ttl)
    )
    print(token)
