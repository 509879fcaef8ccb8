"""What a reader may do with one document, asked of the policy (issue 15, item 6).

A page offers exactly the actions the policy would allow: ``allowed_actions`` asks
``policy.decide`` each document action with the facts the enforcing services gather
(``facts.document_facts``), so a template never re-states a rule. It also says whether the
reader is the author, or of the author's structure, so that "Your document" is said only to
the author.
"""

from __future__ import annotations

from dataclasses import dataclass

from opendmp.domain.policy import Action, decide
from opendmp.services.core.facts import document_facts
from opendmp.services.core.guarded import Guarded

__all__ = ["DOCUMENT_ACTIONS", "Affordances", "allowed_actions"]

# The actions on one document a page may offer (reading is the page itself).
DOCUMENT_ACTIONS = (
    Action.REPLACE_DOCUMENT,
    Action.ARCHIVE_DOCUMENT,
    Action.SET_VISIBILITY,
    Action.DELETE_DOCUMENT,
    Action.MASK_DOCUMENT,
)


@dataclass(frozen=True, slots=True)
class Affordances:
    allowed: frozenset[Action]
    by_reader: bool  # the reader is the author (or deposited it)
    by_readers_organization: bool  # the author's structure is the reader's

    def may(self, action: Action | str) -> bool:
        return Action(action) in self.allowed


def allowed_actions(g: Guarded) -> Affordances:
    """The document actions the policy allows ``g.actor`` on ``g.document``."""
    assert g.document is not None
    facts, document = document_facts(g.document, actor=g.actor, who=g.who, matrix=g.ctx.matrix)
    allowed = frozenset(a for a in DOCUMENT_ACTIONS if decide(g.actor, a, facts).allowed)
    return Affordances(allowed, document.author_is_actor, document.author_organization_is_actors)
