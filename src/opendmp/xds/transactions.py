"""The XDS.b transactions OpenDMP answers: endpoint path, WS-Addressing actions, WSDL file.

The actions are those of the IHE WSDLs (``wsam:Action`` of each operation, ITI TF-2b and
TF-2x Appendix V); one path per transaction (docs/xds.md, "Endpoints"), and the router refuses
an action sent to another transaction's path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Transaction:
    name: str  # "ITI-41"
    path: str  # "/xds/iti41"
    action: str  # wsa:Action of the request
    response_action: str  # wsa:Action of the answer
    wsdl: str  # file in xds/wsdl/


ITI41: Final = Transaction(
    "ITI-41",
    "/xds/iti41",
    "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b",
    "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse",
    "iti41.wsdl",
)
ITI18: Final = Transaction(
    "ITI-18",
    "/xds/iti18",
    "urn:ihe:iti:2007:RegistryStoredQuery",
    "urn:ihe:iti:2007:RegistryStoredQueryResponse",
    "iti18.wsdl",
)
ITI43: Final = Transaction(
    "ITI-43",
    "/xds/iti43",
    "urn:ihe:iti:2007:RetrieveDocumentSet",
    "urn:ihe:iti:2007:RetrieveDocumentSetResponse",
    "iti43.wsdl",
)
ITI57: Final = Transaction(
    "ITI-57",
    "/xds/iti57",
    "urn:ihe:iti:2010:UpdateDocumentSet",
    "urn:ihe:iti:2010:UpdateDocumentSetResponse",
    "iti57.wsdl",
)

TRANSACTIONS: Final = (ITI41, ITI18, ITI43, ITI57)
BY_ACTION: Final = {tx.action: tx for tx in TRANSACTIONS}
