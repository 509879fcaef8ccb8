"""The access matrix (docs/rules.md §3.6): may this profession [+ specialty] read this type?

One boolean per (profession, specialty or none, document type). A specialty-specific cell
overrides the profession's cell for the same type; a cell that exists nowhere is "may not
read" (default deny: a type the matrix never mentions is read by nobody but the patient).
The matrix is data: OpenDMP ships a default one (``data/access-matrix.json``) and loads the
official annex of the arrêté du 26 octobre 2023 as-is from CSV. The domain only parses text;
reading files is ``services.matrix_loader``'s job.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

from opendmp.domain.codes import PROFESSIONS
from opendmp.domain.errors import InvalidInput

CSV_HEADER = ("profession", "specialty", "type_code", "may_read")
_TRUE = frozenset({"1", "true", "oui", "yes", "vrai"})
_FALSE = frozenset({"0", "false", "non", "no", "faux"})

_RULE_KEYS = frozenset({"profession", "specialty", "note", "may_read", "may_not_read"})

Cell = tuple[str, str | None, str]  # (profession, specialty or None, type code)


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid-access-matrix")


class AccessMatrix:
    """An immutable profession [+ specialty] × document type "may read" table."""

    __slots__ = ("_cells", "_readable", "source", "version")

    def __init__(self, cells: Mapping[Cell, bool], *, version: str = "", source: str = "") -> None:
        self._cells: dict[Cell, bool] = dict(cells)
        self._readable: dict[tuple[str | None, str | None], frozenset[str]] = {}
        self.version = version
        self.source = source

    @property
    def cells(self) -> Mapping[Cell, bool]:
        return dict(self._cells)

    def professions(self) -> frozenset[str]:
        return frozenset(profession for profession, _, _ in self._cells)

    def readable_types(self, profession: str | None, specialty: str | None) -> frozenset[str]:
        """Every type this profession [+ specialty] may read (the SQL filter's ``IN`` list)."""
        key = (profession, specialty)
        found = self._readable.get(key)
        if found is None:
            found = self._compute(profession, specialty)
            self._readable[key] = found
        return found

    def may_read(self, profession: str | None, specialty: str | None, type_code: str) -> bool:
        return type_code in self.readable_types(profession, specialty)

    def _compute(self, profession: str | None, specialty: str | None) -> frozenset[str]:
        if profession is None:
            return frozenset()
        merged: dict[str, bool] = {}
        for (p, s, type_code), may in self._cells.items():
            if p == profession and s is None:
                merged.setdefault(type_code, may)
        if specialty is not None:
            for (p, s, type_code), may in self._cells.items():
                if p == profession and s == specialty:
                    merged[type_code] = may  # the specialty's row overrides the profession's
        return frozenset(t for t, may in merged.items() if may)

    # --- parsing ----------------------------------------------------------------------------

    @classmethod
    def from_json_text(cls, text: str) -> AccessMatrix:
        """Parse the JSON form (see the ``_comment`` of ``data/access-matrix.json``)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _invalid(f"line {exc.lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            raise _invalid("the matrix must be an object with a 'rules' list")
        groups = _json_groups(data.get("groups", {}))
        cells: dict[Cell, bool] = {}
        seen: set[tuple[str, str | None]] = set()
        for index, rule in enumerate(data["rules"], start=1):
            _json_rule(index, rule, groups, cells, seen)
        return cls(cells, version=str(data.get("version", "")), source=str(data.get("source", "")))

    @classmethod
    def from_csv_text(cls, text: str) -> AccessMatrix:
        """Parse ``profession,specialty,type_code,may_read`` rows (``;`` also accepted).

        ``may_read`` is 1/0, true/false or oui/non; an empty specialty is the profession's
        row. Any malformed line refuses the whole file, naming the line.
        """
        text = text.removeprefix("\ufeff")
        first_line = text.split("\n", 1)[0]
        delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        header = next(reader, None)
        if header is None or tuple(h.strip().lower() for h in header) != CSV_HEADER:
            raise _invalid(f"line 1: the header must be {','.join(CSV_HEADER)}")
        cells: dict[Cell, bool] = {}
        seen_at: dict[Cell, int] = {}
        for row in reader:
            line = reader.line_num
            if not any(field.strip() for field in row):
                continue  # blank line
            if len(row) != len(CSV_HEADER):
                raise _invalid(f"line {line}: expected 4 columns, found {len(row)}")
            profession, specialty, type_code, may_read = (field.strip() for field in row)
            if profession not in PROFESSIONS:
                raise _invalid(f"line {line}: unknown profession code {profession!r}")
            if not type_code:
                raise _invalid(f"line {line}: the type code is empty")
            cell: Cell = (profession, specialty or None, type_code)
            if cell in seen_at:
                raise _invalid(f"line {line}: duplicate of line {seen_at[cell]}")
            cells[cell] = _boolean(line, may_read)
            seen_at[cell] = line
        return cls(cells, source="csv")


def _boolean(line: int, value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _invalid(f"line {line}: may_read must be 1/0, true/false or oui/non, not {value!r}")


def _json_groups(raw: Any) -> dict[str, list[str]]:
    if not isinstance(raw, dict):
        raise _invalid("'groups' must map a group name to a list of type codes")
    groups: dict[str, list[str]] = {}
    for name, codes in raw.items():
        if not isinstance(codes, list) or not all(isinstance(c, str) and c for c in codes):
            raise _invalid(f"group {name!r}: expected a list of type codes")
        groups[name] = codes
    return groups


def _json_types(where: str, raw: Any, groups: Mapping[str, list[str]]) -> list[str]:
    if not isinstance(raw, list):
        raise _invalid(f"{where}: expected a list of type codes or @groups")
    codes: list[str] = []
    for item in raw:
        if not isinstance(item, str) or not item:
            raise _invalid(f"{where}: empty or non-text type code")
        if item.startswith("@"):
            if item[1:] not in groups:
                raise _invalid(f"{where}: unknown group {item!r}")
            codes.extend(groups[item[1:]])
        else:
            codes.append(item)
    return codes


def _json_rule(
    index: int,
    rule: Any,
    groups: Mapping[str, list[str]],
    cells: dict[Cell, bool],
    seen: set[tuple[str, str | None]],
) -> None:
    where = f"rule {index}"
    if not isinstance(rule, dict):
        raise _invalid(f"{where}: expected an object")
    unknown = set(rule) - _RULE_KEYS
    if unknown:
        raise _invalid(f"{where}: unknown keys {sorted(unknown)}")
    profession = rule.get("profession")
    specialty = rule.get("specialty")
    if profession not in PROFESSIONS:
        raise _invalid(f"{where}: unknown profession code {profession!r}")
    if specialty is not None and (not isinstance(specialty, str) or not specialty):
        raise _invalid(f"{where}: the specialty must be a code or null")
    if (profession, specialty) in seen:
        raise _invalid(f"{where}: a second rule for profession {profession} / {specialty}")
    seen.add((profession, specialty))
    for value, key in ((True, "may_read"), (False, "may_not_read")):
        for type_code in _json_types(f"{where} {key}", rule.get(key, []), groups):
            cells[(profession, specialty, type_code)] = value
