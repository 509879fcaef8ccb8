"""``vihf``: a signed VIHF (SAML 2.0 assertion) for XDS.b development and demos."""

from __future__ import annotations

from typing import Annotated

import typer

from opendmp.cli.common import InsOption, PurposeOption, ReasonOption, TtlOption, run, settings
from opendmp.domain.errors import InvalidInput


@run
async def vihf(
    idnat: Annotated[str, typer.Option("--idnat", help="IdNat_PS of the user (NameID)")],
    profession: Annotated[str, typer.Option("--profession", help="TRE_G15 code, e.g. 10")],
    structure: Annotated[str, typer.Option("--structure", help="Struct_IdNat (the signer)")],
    ins: InsOption,
    specialty: Annotated[str | None, typer.Option("--specialty", help="e.g. SM54")] = None,
    purpose: PurposeOption = "normal",
    reason: ReasonOption = None,
    name: Annotated[str, typer.Option("--name", help="subject-id")] = "DEMO Utilisateur",
    ttl: TtlOption = "10m",
) -> None:
    """Print a VIHF signed with the structure's key (OPENDMP_HOME/pki/vihf, made by demo)."""
    from opendmp.auth import dev_issuer, vihf_issuer
    from opendmp.config import Mode
    from opendmp.domain.actors import AccessMode
    from opendmp.domain.identifiers import INS_NIR_TEST_OID, parse_ins_reference
    from opendmp.services.core.context import utcnow

    s = settings()
    if s.mode is Mode.PRODUCTION:
        raise InvalidInput("development VIHFs are refused in production", code="vihf-refused")
    try:
        mode = AccessMode(purpose)
    except ValueError:
        raise InvalidInput(
            "--purpose is normal, break-glass or regulation", code="invalid-purpose"
        ) from None
    request = vihf_issuer.VihfRequest(
        idnat=idnat,
        structure=structure,
        patient_ins=str(parse_ins_reference(ins, INS_NIR_TEST_OID)),
        profession=profession,
        specialty=specialty,
        purpose=mode,
        reason=reason,
        name=name,
        audience=s.token_audience,
    )
    signer = vihf_issuer.load_signer(s.home, structure)
    signed = vihf_issuer.issue_vihf(request, signer, now=utcnow(), ttl=dev_issuer.parse_ttl(ttl))
    print(signed.decode())
