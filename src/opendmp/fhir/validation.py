"""Validate incoming FHIR resources with the R4B models, strictly.

``fhir.resources`` coerces JSON types (``"size": false`` becomes 0, ``"11"`` becomes 11),
which FHIR JSON forbids. Before the model validation (structure, cardinalities, formats),
:func:`strict_json_types` walks the raw JSON beside the model's field annotations and
refuses a boolean where an integer is expected, a number where a string is, and so on.
Every error names its place as a FHIRPath-like ``expression``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import types
import typing
import uuid
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel, ValidationError

from opendmp.domain.errors import InvalidInput


class InvalidResource(InvalidInput):
    """A resource that is not valid FHIR R4; ``expression`` says where."""

    code = "invalid-resource"
    http_status = 400

    def __init__(self, message: str, *, expression: str | None = None, code: str | None = None):
        super().__init__(message, code=code)
        self.expression = expression


def _path(root: str, loc: tuple[int | str, ...]) -> str:
    text = root
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.startswith(("function-", "__")):
            continue
        else:
            text += f".{part}"
    return text


def model_class(resource_type: str) -> type[BaseModel]:
    try:
        return get_fhir_model_class(resource_type)
    except (KeyError, ValueError):
        raise InvalidResource(
            f"unknown resource type {resource_type!r}", expression=resource_type
        ) from None


def validate_resource(data: dict[str, Any]) -> None:
    """Validate ``data`` (a JSON resource) with the R4B model, then its JSON types."""
    resource_type = data.get("resourceType")
    if not isinstance(resource_type, str):
        raise InvalidResource("the body is not a FHIR resource (no resourceType)")
    model = model_class(resource_type)
    # JSON types first: the R4B models' own validators assume them (a number where a url is
    # expected raised AttributeError inside fhir_core, issue 12).
    strict_json_types(data, model, resource_type)
    try:
        model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _path(resource_type, tuple(first.get("loc", ())))
        raise InvalidResource(f"{where}: {first.get('msg', 'invalid')}", expression=where) from None
    except (ValueError, TypeError) as exc:
        raise InvalidResource(
            f"invalid {resource_type}: {str(exc).splitlines()[0]}", expression=resource_type
        ) from None


def _unwrap(annotation: Any) -> tuple[bool, Any]:
    """(is_list, element annotation) with Optional removed."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else annotation
        origin = typing.get_origin(annotation)
    if origin in (list, typing.List):  # noqa: UP006 - fhir.resources uses typing.List
        return True, typing.get_args(annotation)[0]
    return False, annotation


def _base(annotation: Any) -> Any:
    if typing.get_origin(annotation) is typing.Annotated:
        return typing.get_args(annotation)[0]
    return annotation


# Primitive types that FHIR JSON writes as strings (fhir_core types: url is a Union).
_STRING_BASES = (str, bytes, dt.datetime, dt.date, dt.time, uuid.UUID)


def _is_url(base: Any) -> bool:
    """``UrlType`` is ``Union[AnyUrl, str]``: a string in JSON, like every string type."""
    return typing.get_origin(base) in (typing.Union, types.UnionType) and str in typing.get_args(
        base
    )


def _check_primitive(value: Any, base: Any, where: str) -> None:
    error = _primitive_type_error(value, base)
    if error is not None:
        raise InvalidResource(f"{where}: {error}", expression=where)


def _primitive_type_error(value: Any, base: Any) -> str | None:
    """What is wrong with the JSON type of ``value`` for the primitive ``base``, if any."""
    if base is bool:
        ok = isinstance(value, bool)
        expected = "a boolean"
    elif base is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        expected = "an integer"
    elif base in (float, decimal.Decimal):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        expected = "a number"
    elif base in _STRING_BASES or _is_url(base):
        ok = isinstance(value, str)
        expected = "a string"
    else:
        return None
    return None if ok else f"expected {expected}, got JSON {type(value).__name__}"


def strict_json_types(data: Any, model: type[BaseModel], where: str) -> None:
    if not isinstance(data, dict):
        raise InvalidResource(f"{where}: expected an object", expression=where)
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    for key, value in data.items():
        if key == "resourceType" or key.startswith("_") or value is None:
            continue
        info = fields.get(key)
        if info is None:
            continue  # the model already refused unknown elements
        here = f"{where}.{key}"
        is_list, element = _unwrap(info.annotation)
        items = value if is_list else [value]
        if is_list and not isinstance(value, list):
            raise InvalidResource(f"{here}: expected an array", expression=here)
        for position, item in enumerate(items):
            at = f"{here}[{position}]" if is_list else here
            _check_value(item, element, at)


def _check_value(value: Any, annotation: Any, where: str) -> None:
    base = _base(annotation)
    klass = getattr(base, "get_model_klass", None)
    if klass is None:
        _check_primitive(value, base, where)
        return
    target = klass()
    if (
        isinstance(value, dict)
        and "resourceType" in value
        and isinstance(value["resourceType"], str)
    ):
        target = model_class(value["resourceType"])
    strict_json_types(value, target, where)
