"""One audit vocabulary (src/opendmp/audit/vocabulary.py): every event the code writes has
a BALP mapping and both labels, no audit code is typed anywhere else, and a stored code the
vocabulary does not know is shown as such rather than hidden or crashing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from opendmp.audit import vocabulary
from opendmp.audit.vocabulary import MEANINGS, AuditAction, balp, label
from opendmp.fhir.audit import TRANSACTIONS
from opendmp.web.patient.texts import action_label

SRC = Path(vocabulary.__file__).parents[1]
# A quoted ``area:subject:action`` of one of the audit areas (the vocabulary's own shape),
# typed whole or built (``f"access:{kind}:block"``).
LITERAL = re.compile(r"""["'](?:record|document|access|auth|keys):[^"'\s]*:[^"'\s]*["']""")


@pytest.mark.parametrize("action", list(AuditAction))
def test_every_event_has_a_balp_mapping_and_both_labels(action: AuditAction) -> None:
    meaning = MEANINGS[action]
    assert meaning.balp.action in {"C", "R", "U", "D", "E"}
    system, code, display = meaning.balp.type
    assert system.startswith(("http://", "urn:")) and code and display
    assert meaning.balp.transaction is None or meaning.balp.transaction in TRANSACTIONS
    assert meaning.fr and meaning.en and meaning.fr != meaning.en
    assert action_label(action, "fr") == meaning.fr
    assert action_label(action, "en") == meaning.en
    assert action.value not in meaning.fr  # a real label, not the generic one


def test_the_vocabulary_has_nothing_but_its_members() -> None:
    assert set(MEANINGS) == set(AuditAction)
    assert len({m.fr for m in MEANINGS.values()}) == len(MEANINGS)  # no two events read alike
    assert len({m.en for m in MEANINGS.values()}) == len(MEANINGS)


def test_no_audit_code_is_typed_outside_the_vocabulary() -> None:
    found = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for path in sorted(SRC.rglob("*.py"))
        if path != Path(vocabulary.__file__)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if LITERAL.search(line)
    ]
    assert not found, "audit codes typed as literals:\n" + "\n".join(found)


def test_a_stored_code_the_vocabulary_does_not_know_is_shown_generically() -> None:
    foreign = "record:record:teleport"
    assert AuditAction.parse(foreign) is None
    assert AuditAction.parse("record:record:close") is AuditAction.RECORD_CLOSE
    assert label(foreign, "fr") == "a fait une action non répertoriée (record:record:teleport)"
    assert label(foreign, "en") == "did an unlisted action (record:record:teleport)"
    assert action_label(foreign, "en-GB") == label(foreign, "en")
    assert balp(foreign).action == "E" and balp(foreign).type[1] == "110110"
