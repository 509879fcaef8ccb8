"""What a profession reads first (docs/portals.md, "The professional view"): a ranking of
document types, as data (``data/relevance.json``), next to the access matrix.

The ranking orders what the reader may already see; it never widens access. A rule names,
for one profession (TRE_G15 code, or ``*`` for every profession without a rule):

- ``pinned``: types whose newest document is pinned at the top (a doctor's medical synthesis,
  the VSM);
- ``first``: tiers of types, most relevant first. A type in no tier ranks after every tier.

The domain parses text; ``services.core.matrix_loader`` reads the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opendmp.domain.codes import PROFESSIONS
from opendmp.domain.errors import InvalidInput

ANY_PROFESSION = "*"
_RULE_KEYS = frozenset({"profession", "note", "pinned", "first"})


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid-relevance")


@dataclass(frozen=True, slots=True)
class RelevanceRule:
    pinned: frozenset[str]
    tiers: tuple[frozenset[str], ...]

    def rank(self, type_code: str) -> int:
        """0 for the first tier's types, 1 for the second's…, ``len(tiers)`` for the rest."""
        for index, tier in enumerate(self.tiers):
            if type_code in tier:
                return index
        return len(self.tiers)


class Relevance:
    """An immutable profession -> (pinned types, tiers of types) table."""

    __slots__ = ("_rules", "per_tier", "version")

    def __init__(
        self, rules: Mapping[str, RelevanceRule], *, per_tier: int = 3, version: str = ""
    ) -> None:
        if ANY_PROFESSION not in rules:
            raise _invalid("the ranking needs a rule for every profession ('*')")
        self._rules = dict(rules)
        self.per_tier = per_tier
        self.version = version

    def rule(self, profession: str | None) -> RelevanceRule:
        return self._rules.get(profession or ANY_PROFESSION) or self._rules[ANY_PROFESSION]

    def rank(self, profession: str | None, type_code: str) -> int:
        return self.rule(profession).rank(type_code)

    def pinned(self, profession: str | None, type_code: str) -> bool:
        return type_code in self.rule(profession).pinned

    @classmethod
    def from_json_text(cls, text: str) -> Relevance:
        """Parse the JSON form (see the ``_comment`` of ``data/relevance.json``)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _invalid(f"line {exc.lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            raise _invalid("the ranking must be an object with a 'rules' list")
        groups = _groups(data.get("groups", {}))
        rules: dict[str, RelevanceRule] = {}
        for index, raw in enumerate(data["rules"], start=1):
            profession, rule = _rule(index, raw, groups)
            if profession in rules:
                raise _invalid(f"rule {index}: a second rule for profession {profession!r}")
            rules[profession] = rule
        per_tier = data.get("per_tier", 3)
        if not isinstance(per_tier, int) or isinstance(per_tier, bool) or not 0 <= per_tier <= 20:
            raise _invalid("per_tier must be a whole number from 0 to 20")
        return cls(rules, per_tier=per_tier, version=str(data.get("version", "")))


def _groups(raw: Any) -> dict[str, frozenset[str]]:
    if not isinstance(raw, dict):
        raise _invalid("'groups' must be an object of lists of type codes")
    groups: dict[str, frozenset[str]] = {}
    for name, codes in raw.items():
        if not isinstance(codes, list) or not all(isinstance(c, str) and c for c in codes):
            raise _invalid(f"group {name!r} must be a list of type codes")
        groups[str(name)] = frozenset(codes)
    return groups


def _types(where: str, items: Any, groups: Mapping[str, frozenset[str]]) -> frozenset[str]:
    if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
        raise _invalid(f"{where} must be a list of type codes or @groups")
    found: set[str] = set()
    for item in items:
        if item.startswith("@"):
            if item[1:] not in groups:
                raise _invalid(f"{where}: unknown group {item}")
            found |= groups[item[1:]]
        else:
            found.add(item)
    return frozenset(found)


def _rule(index: int, raw: Any, groups: Mapping[str, frozenset[str]]) -> tuple[str, RelevanceRule]:
    where = f"rule {index}"
    if not isinstance(raw, dict) or set(raw) - _RULE_KEYS:
        raise _invalid(f"{where}: an object with keys {', '.join(sorted(_RULE_KEYS))}")
    profession = raw.get("profession")
    if profession != ANY_PROFESSION and profession not in PROFESSIONS:
        raise _invalid(f"{where}: unknown profession code {profession!r}")
    tiers_raw = raw.get("first", [])
    if not isinstance(tiers_raw, list):
        raise _invalid(f"{where}: 'first' must be a list of tiers")
    tiers = tuple(
        _types(f"{where} tier {n}", tier, groups) for n, tier in enumerate(tiers_raw, start=1)
    )
    seen: set[str] = set()
    for n, tier in enumerate(tiers, start=1):
        if tier & seen:
            raise _invalid(f"{where} tier {n}: {', '.join(sorted(tier & seen))} ranked twice")
        seen |= tier
    pinned = _types(f"{where} pinned", raw.get("pinned", []), groups)
    return str(profession), RelevanceRule(pinned, tiers)
