"""``pki``: test certification authority and test cards."""

from __future__ import annotations

from typing import Annotated

import typer

from opendmp.cli.common import out, run, settings
from opendmp.domain.errors import InvalidInput

pki_app = typer.Typer(help="Test certification authority and test cards.", no_args_is_help=True)


@pki_app.command("init")
@run
async def pki_init(
    force: Annotated[bool, typer.Option("--force", help="replace an existing test CA")] = False,
) -> None:
    """Create the test certification authority in OPENDMP_HOME/pki (ca.pem, ca.key)."""
    from opendmp.auth import pki

    s = settings()
    files = pki.init_authority(s.home, force=force)
    out.print(f"test CA: {files.certificate.resolve()}")
    out.print(f"CA key:  {files.key.resolve()}")
    out.print(f"trust it with OPENDMP_CLIENT_CA_FILE={files.certificate.resolve()}")


@pki_app.command("issue-card")
@run
async def pki_issue_card(
    idnat: Annotated[str, typer.Option("--idnat", help="IdNat_PS, e.g. 899700000018")],
    profession: Annotated[str, typer.Option("--profession", help="TRE_G15 code, e.g. 10")],
    name: Annotated[str, typer.Option("--name", help='"FAMILY Given"')],
    kind: Annotated[str, typer.Option("--kind", help="CPS or CPE")] = "CPS",
    specialty: Annotated[str | None, typer.Option("--specialty")] = None,
    organization: Annotated[
        str | None, typer.Option("--organization", help="Struct_IdNat (required for a CPE)")
    ] = None,
) -> None:
    """Issue a test card certificate and key (PEM) into OPENDMP_HOME/pki/cards."""
    from opendmp.auth import pki
    from opendmp.domain.actors import CardKind

    try:
        card_kind = CardKind(kind.upper())
    except ValueError:
        raise InvalidInput("--kind must be CPS, CPE or CPA", code="invalid-card-kind") from None
    files = pki.issue_card_files(
        settings().home,
        idnat=idnat,
        profession=profession,
        name=name,
        kind=card_kind,
        specialty=specialty,
        organization=organization,
    )
    out.print(f"certificate: {files.certificate.resolve()}", soft_wrap=True)
    out.print(f"key:         {files.key.resolve()}", soft_wrap=True)


@pki_app.command("issue-establishment")
@run
async def pki_issue_establishment(
    organization: Annotated[str, typer.Option("--organization", help="Struct_IdNat")],
    name: Annotated[str | None, typer.Option("--name")] = None,
) -> None:
    """Issue a test establishment (organisation) certificate for indirect authentication."""
    from opendmp.auth import pki

    files = pki.issue_establishment_files(settings().home, organization=organization, name=name)
    out.print(f"certificate: {files.certificate.resolve()}", soft_wrap=True)
    out.print(f"key:         {files.key.resolve()}", soft_wrap=True)
