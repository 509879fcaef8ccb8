"""Apply a PATCH body to a DocumentReference dict: JSON Patch (RFC 6902,
``application/json-patch+json``) or FHIRPath Patch (a ``Parameters`` resource).

ANS PDSm lets a metadata update touch three elements only: ``status``, ``securityLabel``
and the ``isArchived`` extension. An operation naming any other element is refused with
405 before anything is applied (``unmodifiable-metadata``, XDS
``UnmodifiableMetadataError``). The FHIRPath Patch support is the subset those three
elements need:

- ``replace`` ``DocumentReference.status`` (valueCode);
- ``add`` on ``DocumentReference`` with ``name`` ``securityLabel`` (valueCodeableConcept or
  valueCoding: appended) or ``status``;
- ``insert`` on ``DocumentReference.securityLabel`` at ``index``;
- ``replace`` / ``delete`` on ``DocumentReference.securityLabel[n]`` or
  ``DocumentReference.securityLabel.where(coding.code='X')``;
- ``replace`` on ``DocumentReference.extension.where(url='…is-archived').value`` (or
  ``.valueBoolean``), ``delete`` of that extension;
- ``move`` within ``securityLabel``.

Other FHIRPath forms on these elements are 422 (``unsupported-patch``). The caller compares
the result with the original to derive the intentions, so an operation can never change
more than it names.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from opendmp.domain.errors import OpenDMPError
from opendmp.fhir.mapping import IS_ARCHIVED_URL

MODIFIABLE = frozenset({"status", "securityLabel", "extension"})


class PatchNotAllowed(OpenDMPError):
    """PDSm: only status, securityLabel and the isArchived extension may change."""

    code = "unmodifiable-metadata"
    http_status = 405

    def __init__(self, element: str) -> None:
        super().__init__(
            f"{element} cannot be changed: a metadata update changes status, securityLabel or"
            " the isArchived extension only (ANS PDSm)"
        )
        self.expression = f"DocumentReference.{element}" if element else "DocumentReference"


class InvalidPatch(OpenDMPError):
    code = "invalid-patch"
    http_status = 400


class UnprocessablePatch(OpenDMPError):
    code = "unsupported-patch"
    http_status = 422


# --- JSON Patch (RFC 6902) ----------------------------------------------------------------------


def _tokens(pointer: Any) -> list[str]:
    if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")):
        raise InvalidPatch(f"{pointer!r} is not a JSON Pointer")
    if not pointer:
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _check_element(tokens: list[str]) -> None:
    element = tokens[0] if tokens else ""
    if element not in MODIFIABLE:
        raise PatchNotAllowed(element)
    if element == "extension" and len(tokens) == 1:
        # Replacing the whole extension list could drop or add any extension.
        raise PatchNotAllowed("extension")


def _index(container: list[Any], token: str, *, for_add: bool) -> int:
    if for_add and token == "-":  # noqa: S105 - RFC 6902 end-of-array, not a secret
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise UnprocessablePatch(f"{token!r} is not an array index")
    index = int(token)
    if index > len(container) or (index == len(container) and not for_add):
        raise UnprocessablePatch(f"index {index} is out of range")
    return index


def _parent(doc: Any, tokens: list[str]) -> tuple[Any, str]:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, for_add=False)]
        else:
            raise UnprocessablePatch(f"/{'/'.join(tokens)} does not exist")
    return node, tokens[-1]


def _get(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        return doc
    parent, last = _parent(doc, tokens)
    if isinstance(parent, dict):
        if last not in parent:
            raise UnprocessablePatch(f"/{'/'.join(tokens)} does not exist")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, for_add=False)]
    raise UnprocessablePatch(f"/{'/'.join(tokens)} does not exist")


def _remove(doc: Any, tokens: list[str]) -> Any:
    parent, last = _parent(doc, tokens)
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, for_add=False))
    raise UnprocessablePatch(f"/{'/'.join(tokens)} does not exist")


def _add(doc: Any, tokens: list[str], value: Any) -> None:
    parent, last = _parent(doc, tokens)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, for_add=True), value)
    else:
        raise UnprocessablePatch(f"/{'/'.join(tokens)} cannot be added to")


def _check_json_patch(operations: Any) -> None:
    """Every operation well formed and on a modifiable element, before any is applied."""
    if not isinstance(operations, list) or not operations:
        raise InvalidPatch("a JSON Patch is a non-empty array of operations")
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise InvalidPatch("each JSON Patch operation has an op and a path")
        op, path = operation["op"], _tokens(operation["path"])
        if op in ("add", "replace", "test") and "value" not in operation:
            raise InvalidPatch(f"{op} needs a value")
        if op == "test":
            continue
        _check_element(path)
        if op in ("move", "copy"):
            _check_element(_tokens(operation.get("from")))


def _apply_json_operation(result: dict[str, Any], operation: dict[str, Any]) -> None:
    op, path = operation["op"], _tokens(operation["path"])
    match op:
        case "test":
            if _get(result, path) != operation["value"]:
                raise UnprocessablePatch(f"test failed at {operation['path']}")
        case "add":
            _add(result, path, copy.deepcopy(operation["value"]))
        case "remove":
            _remove(result, path)
        case "replace":
            _get(result, path)  # must exist
            _remove(result, path)
            _add(result, path, copy.deepcopy(operation["value"]))
        case "move":
            value = _remove(result, _tokens(operation["from"]))
            _add(result, path, value)
        case "copy":
            _add(result, path, copy.deepcopy(_get(result, _tokens(operation["from"]))))
        case _:
            raise InvalidPatch(f"unknown JSON Patch op {op!r}")


def apply_json_patch(resource: dict[str, Any], operations: Any) -> dict[str, Any]:
    _check_json_patch(operations)
    result = copy.deepcopy(resource)
    for operation in operations:
        _apply_json_operation(result, operation)
    return result


# --- FHIRPath Patch ---------------------------------------------------------------------------

_ELEMENT = re.compile(r"^DocumentReference(?:\.([A-Za-z]+))?")
_PATH = re.compile(
    r"^DocumentReference(?:\.(?P<elem>status|securityLabel|extension)"
    r"(?:\[(?P<index>\d+)\]|\.where\((?P<cond>[^)]*)\))?"
    r"(?:\.(?P<sub>value|valueBoolean))?)?$"
)
_LABEL_CODE = re.compile(r"^coding\.code\s*=\s*'([^']*)'$")
_URL = re.compile(r"^url\s*=\s*'([^']*)'$")


def _parts(parameter: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(p.get("name")): p for p in parameter.get("part") or [] if isinstance(p, dict)}


def _value(part: dict[str, Any] | None) -> tuple[str, Any] | None:
    if part is None:
        return None
    for key, value in part.items():
        if key.startswith("value"):
            return key, value
    return None


def _label(value: tuple[str, Any] | None) -> dict[str, Any]:
    if value is None:
        raise InvalidPatch("a securityLabel value is required")
    kind, data = value
    if kind == "valueCodeableConcept" and isinstance(data, dict):
        return dict(data)
    if kind == "valueCoding" and isinstance(data, dict):
        return {"coding": [data]}
    raise UnprocessablePatch("a securityLabel value is a valueCodeableConcept or valueCoding")


def _select_label(labels: list[Any], index: str | None, cond: str | None) -> int:
    if index is not None:
        position = int(index)
        if position >= len(labels):
            raise UnprocessablePatch(f"securityLabel[{position}] does not exist")
        return position
    found = _LABEL_CODE.match((cond or "").strip())
    if found is None:
        raise UnprocessablePatch("securityLabel is selected by [n] or .where(coding.code='X')")
    matches = [
        i
        for i, label in enumerate(labels)
        if any(c.get("code") == found[1] for c in (label or {}).get("coding") or [])
    ]
    if len(matches) != 1:
        raise UnprocessablePatch(
            f"securityLabel.where(coding.code='{found[1]}') matches {len(matches)}"
        )
    return matches[0]


def _archived_extension(resource: dict[str, Any], cond: str | None) -> int | None:
    found = _URL.match((cond or "").strip())
    if found is None or found[1] != IS_ARCHIVED_URL:
        raise PatchNotAllowed("extension")  # another extension, or all of them
    for i, ext in enumerate(resource.get("extension") or []):
        if ext.get("url") == IS_ARCHIVED_URL:
            return i
    return None


@dataclass(frozen=True)
class _Operation:
    """One FHIRPath Patch operation, its path read against what OpenDMP supports."""

    kind: str
    path: str
    parts: dict[str, dict[str, Any]]
    name: Any
    elem: str | None
    index: str | None
    cond: str | None
    sub: str | None
    value: tuple[str, Any] | None

    def integer(self, part: str) -> Any:
        return (self.parts.get(part) or {}).get("valueInteger")

    def unsupported(self) -> UnprocessablePatch:
        return UnprocessablePatch(f"unsupported {self.kind} on {self.path!r}")


def _operation(parameter: dict[str, Any]) -> _Operation:
    parts = _parts(parameter)
    kind = (parts.get("type") or {}).get("valueCode")
    path = (parts.get("path") or {}).get("valueString")
    if not isinstance(path, str) or kind not in ("add", "insert", "delete", "replace", "move"):
        raise InvalidPatch(
            "each operation has a type (add, insert, delete, replace, move) and a path"
        )
    leading = _ELEMENT.match(path)
    if leading is None:
        raise InvalidPatch(f"{path!r} is not a DocumentReference path")
    element = leading[1] or ""
    name = (parts.get("name") or {}).get("valueString")
    if kind == "add" and not element:
        element = str(name or "")
    if element not in MODIFIABLE:
        raise PatchNotAllowed(element)
    found = _PATH.match(path)
    if found is None:
        raise UnprocessablePatch(f"unsupported FHIRPath {path!r}")
    return _Operation(
        kind=kind,
        path=path,
        parts=parts,
        name=name,
        elem=found["elem"],
        index=found["index"],
        cond=found["cond"],
        sub=found["sub"],
        value=_value(parts.get("value")),
    )


def _add_element(result: dict[str, Any], labels: list[Any], op: _Operation) -> None:
    if op.name == "securityLabel":
        labels.append(_label(op.value))
    elif op.name == "status" and op.value is not None:
        result["status"] = op.value[1]
    else:
        raise UnprocessablePatch(f"add {op.name!r} on DocumentReference is not supported")


def _replace_status(result: dict[str, Any], op: _Operation) -> None:
    if op.kind != "replace" or op.value is None:
        raise UnprocessablePatch("status can only be replaced")
    result["status"] = op.value[1]


def _on_labels(labels: list[Any], op: _Operation) -> None:
    whole = op.index is None and op.cond is None  # no label selected
    if op.kind == "insert" and whole:
        at = op.integer("index")
        if not isinstance(at, int) or not 0 <= at <= len(labels):
            raise UnprocessablePatch("insert needs an index within securityLabel")
        labels.insert(at, _label(op.value))
    elif op.kind == "replace":
        labels[_select_label(labels, op.index, op.cond)] = _label(op.value)
    elif op.kind == "delete":
        labels.pop(_select_label(labels, op.index, op.cond))
    elif op.kind == "move" and whole:
        source, destination = op.integer("source"), op.integer("destination")
        if not (isinstance(source, int) and isinstance(destination, int)) or not (
            0 <= source < len(labels) and 0 <= destination < len(labels)
        ):
            raise UnprocessablePatch("move needs a source and a destination in securityLabel")
        labels.insert(destination, labels.pop(source))
    else:
        raise op.unsupported()


def _on_archived(result: dict[str, Any], op: _Operation) -> None:
    position = _archived_extension(result, op.cond)
    extensions: list[Any] = result.setdefault("extension", [])
    if op.kind == "delete" and op.sub is None:
        if position is not None:
            extensions.pop(position)
    elif op.kind == "replace" and op.sub is not None:
        value = op.value
        if value is None or value[0] != "valueBoolean" or not isinstance(value[1], bool):
            raise UnprocessablePatch("isArchived is a valueBoolean")
        if position is None:
            raise UnprocessablePatch("the isArchived extension is absent")
        extensions[position] = {"url": IS_ARCHIVED_URL, "valueBoolean": value[1]}
    else:
        raise op.unsupported()


def _fhirpath_operation(result: dict[str, Any], parameter: dict[str, Any]) -> None:
    op = _operation(parameter)
    labels: list[Any] = result.setdefault("securityLabel", [])
    if op.kind == "add" and op.elem is None:
        _add_element(result, labels, op)
    elif op.elem == "status" and op.index is None and op.cond is None and op.sub is None:
        _replace_status(result, op)
    elif op.elem == "securityLabel" and op.sub is None:
        _on_labels(labels, op)
    elif op.elem == "extension":
        _on_archived(result, op)
    else:
        raise op.unsupported()


def apply_fhirpath_patch(resource: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    if parameters.get("resourceType") != "Parameters":
        raise InvalidPatch("a FHIRPath Patch is a Parameters resource")
    operations = [p for p in parameters.get("parameter") or [] if isinstance(p, dict)]
    if not operations or any(p.get("name") != "operation" for p in operations):
        raise InvalidPatch("a FHIRPath Patch holds operation parameters only")
    # Check every path before applying anything: a forbidden element is 405 whatever else.
    for operation in operations:
        parts = _parts(operation)
        path = (parts.get("path") or {}).get("valueString")
        leading = _ELEMENT.match(path) if isinstance(path, str) else None
        if leading is not None:
            element = leading[1] or str((parts.get("name") or {}).get("valueString") or "")
            if element not in MODIFIABLE:
                raise PatchNotAllowed(element)
    result = copy.deepcopy(resource)
    for operation in operations:
        _fhirpath_operation(result, operation)
    return result
