"""Accept an ordinary FHIR resource without building the R4B model objects; refuse nothing.

``validate_resource`` (``fhir/validation.py``) builds a ``fhir.resources`` object for every
element of the body: for a one-document ITI-65 Bundle, some thirty nested models, each with
its Python-level validators, plus our walk of the JSON types — most of a deposit's parsing
CPU (docs/benchmarks.md, "the hot path without heavy models").

:func:`check_resource` first walks the JSON once against a table compiled, once per model
class, from the same models' field declarations: the element names each model allows, which
repeat, which are required (pydantic's required fields and the models' own
``get_required_fields``), the choice groups (``value[x]``), the concrete resource class of
a contained resource, and for every primitive the model's own annotated type (``Code``,
``DateTime``, ``Url``, base64 ``Binary.data``…), validated by the same pydantic-core schema
the model uses, after our strict JSON types (``validation._primitive_type_error``).

**Accept fast, refuse slow.** The walk only ever *accepts*: anything it does not model
exactly — an unknown or python-named element, a ``_primitive`` extension sibling, a null,
an empty string, array or object, a choice group with none or several members, a
polymorphic element without ``resourceType``, ``fhir_comments``… — or any value it would
refuse, sends the resource to the full ``validate_resource``, which decides and words the
error. So refusals, and their messages, are exactly the full models'; what must hold is
that the walk accepts nothing the models refuse, which ``tests/unit/test_fhir_shapes.py``
checks on the shared examples and on generated mutations of them.

Why hand-checked rules on the parsed dict, not msgspec structs: structs would need the same
per-type rules (FHIR primitives are regular expressions and calendar checks, choice
groups, required-with-extension) written a second time, where this table is derived from
the models themselves and reuses their primitive validators; and no new dependency.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from opendmp.fhir.validation import (
    _base,
    _primitive_type_error,
    _unwrap,
    model_class,
    validate_resource,
)

_ABSTRACT = frozenset({"Resource", "DomainResource"})


@dataclass(frozen=True, slots=True)
class _Field:
    is_list: bool
    model: type[BaseModel] | None  # a complex element (or a resource)
    primitive: TypeAdapter[Any] | None  # the model's own annotated primitive type
    base: Any  # for the strict JSON type


@dataclass(frozen=True, slots=True)
class _Shape:
    resource_type: str | None
    fields: dict[str, _Field]
    required: tuple[str, ...]
    choices: tuple[tuple[tuple[str, ...], bool], ...]  # (member aliases, required)


class _Unsure(Exception):
    """The walk does not accept this input: the full validation decides."""


def check_resource(data: dict[str, Any]) -> None:
    """Validate ``data`` exactly as :func:`validate_resource` does, faster when it is an
    ordinary resource: accepted by the walk, or decided (and refused) by the full models."""
    if _accepts(data):
        return
    validate_resource(data)


def _accepts(data: Any) -> bool:
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        return False
    try:
        _walk_resource(data, None)
    except (_Unsure, ValidationError, ValueError, TypeError, RecursionError):
        return False
    return True


@functools.cache
def _shape(model: type[BaseModel]) -> _Shape:
    fields: dict[str, _Field] = {}
    aliases: dict[str, str] = {}
    for name, info in model.model_fields.items():
        alias = info.alias or name
        aliases[name] = alias
        if name.endswith("__ext") or alias in ("fhir_comments", "resourceType") or info.metadata:
            continue  # not accepted by the walk (or constrained beyond the annotation)
        is_list, element = _unwrap(info.annotation)
        base = _base(_unwrap_optional(element))
        klass = getattr(base, "get_model_klass", None)
        if klass is not None:
            fields[alias] = _Field(is_list, klass(), None, None)
        else:
            fields[alias] = _Field(is_list, None, TypeAdapter(element), base)
    instance = model.model_construct()
    required = {aliases[n] for n, i in model.model_fields.items() if i.is_required()}
    required |= {aliases[n] for n, _ext in getattr(instance, "get_required_fields", list)()}
    choices = []
    for members in getattr(instance, "get_one_of_many_fields", dict)().values():
        extra = model.model_fields[members[0]].json_schema_extra
        needed = isinstance(extra, dict) and extra.get("one_of_many_required") is True
        choices.append((tuple(aliases[m] for m in members), needed))
    declared = getattr(model, "__resource_type__", None)
    resource_type = declared if _is_resource(model) and isinstance(declared, str) else None
    return _Shape(
        resource_type,
        fields,
        tuple(sorted(required)),
        tuple(choices),
    )


def _is_resource(model: type[BaseModel]) -> bool:
    has_resource_base = getattr(model, "has_resource_base", None)
    return bool(has_resource_base()) if has_resource_base is not None else False


def _unwrap_optional(annotation: Any) -> Any:
    _, inner = _unwrap(annotation)
    return inner


def _walk_resource(data: dict[str, Any], declared: type[BaseModel] | None) -> None:
    """A resource: its concrete class from ``resourceType`` (a contained or Bundle entry
    resource is declared as the abstract ``Resource``)."""
    resource_type = data.get("resourceType")
    if not isinstance(resource_type, str):
        raise _Unsure
    declared_type = getattr(declared, "__resource_type__", None)
    if declared is not None and declared_type not in _ABSTRACT and declared_type != resource_type:
        raise _Unsure
    try:
        model = model_class(resource_type)
    except Exception:
        raise _Unsure from None
    if model.__name__ in _ABSTRACT:
        raise _Unsure
    _walk(data, model)


def _walk(data: Any, model: type[BaseModel]) -> None:
    if not isinstance(data, dict) or not data:
        raise _Unsure
    shape = _shape(model)
    if shape.resource_type is None:
        if "resourceType" in data:
            raise _Unsure
    elif data.get("resourceType") != shape.resource_type:
        raise _Unsure
    for key, value in data.items():
        if key == "resourceType":
            continue
        field = shape.fields.get(key)
        if field is None or value is None:
            raise _Unsure
        if field.is_list:
            if not isinstance(value, list) or not value:
                raise _Unsure
            for item in value:
                _element(item, field)
        else:
            _element(value, field)
    if any(name not in data for name in shape.required):
        raise _Unsure
    for members, needed in shape.choices:
        present = sum(1 for m in members if m in data)
        if present > 1 or (needed and present == 0):
            raise _Unsure


def _element(value: Any, field: _Field) -> None:
    if value is None or value == "" or isinstance(value, list):
        raise _Unsure
    if field.model is not None:
        if isinstance(value, dict) and "resourceType" in value:
            _walk_resource(value, field.model)
        elif getattr(field.model, "__resource_type__", None) in _ABSTRACT:
            raise _Unsure
        else:
            _walk(value, field.model)
        return
    if field.primitive is None or _primitive_type_error(value, field.base) is not None:
        raise _Unsure
    field.primitive.validate_python(value)
