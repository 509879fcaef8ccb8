"""Large (but realistic) ITI-65 Bundles for the bounds tests (docs/security.md, "Bounded work
per request"): ``documents`` CDA documents of ``size`` bytes each (a CDA header matching
the metadata, the body an embedded synthetic PDF as base64), all for one test INS."""

from __future__ import annotations

import base64
import copy
import os
import uuid
from typing import Any

from opendmp.domain.identifiers import Ins
from tests.api.provide_support import ans_iti65, cda, entries_of, set_content

_DOC_ROOT = "1.2.250.1.213.1.4.8.99999"
_FILLER = "Synthetic test document."


def cda_of_size(unique_id: str, ins: Ins, size: int) -> bytes:
    """A CDA whose body carries a random "PDF" (base64) so that the whole is ``size`` bytes
    (at least the size of the header)."""
    small = cda(unique_id=unique_id, ins=ins, author_idnat="899700218896")
    length = max(size - len(small) + len(_FILLER), 1)
    pdf = base64.b64encode(os.urandom(length))[:length]
    return small.replace(_FILLER.encode(), pdf)


def large_bundle(ins: Ins, documents: int, size: int) -> dict[str, Any]:
    """The ANS ITI-65 example carrying ``documents`` CDA documents of ``size`` bytes."""
    bundle = ans_iti65(ins, real_cda=False)
    submission = entries_of(bundle, "List")[0]
    doc_template = entries_of(bundle, "DocumentReference")[0]
    binary_template = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Binary")
    entries: list[dict[str, Any]] = [submission]
    members = []
    for n in range(documents):
        doc, binary = copy.deepcopy(doc_template), copy.deepcopy(binary_template)
        doc["fullUrl"], binary["fullUrl"] = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
        unique_id = f"{_DOC_ROOT}.{uuid.uuid4().int % 10**12}.{n}"
        doc["resource"]["masterIdentifier"]["value"] = f"urn:oid:{unique_id}"
        doc["resource"]["content"][0]["attachment"]["url"] = binary["fullUrl"]
        entries += [doc, binary]
        members.append({"item": {"reference": doc["fullUrl"]}})
        set_content({"entry": entries}, cda_of_size(unique_id, ins, size), doc_index=n)
    submission["resource"]["entry"] = members
    submission["resource"]["identifier"] = [
        {"use": "usual", "system": "urn:ietf:rfc:3986", "value": f"urn:oid:2.25.{uuid.uuid4().int}"}
    ]
    bundle["entry"] = entries
    return bundle
