"""Dagster config classes derived from the science's settings dataclasses.

An asset's config is the fields of one or more settings dataclasses (declared
with :func:`cell_assets.parameters.parameter`) plus a few of its own. The
derived class has the same names, types, defaults, descriptions and bounds,
so the launchpad, the run queue's validation and the settings object the
science receives cannot drift apart.
"""

from __future__ import annotations

import typing
from enum import Enum
from typing import Any

import dagster as dg
import pydantic
from pydantic import Field

from cell_assets.parameters import Parameter, parameters_of


def _config_annotation(annotation: Any, bounds: dict[str, float] | None = None) -> Any:
    """Dagster config knows lists, not tuples: ``tuple[X, ...]`` becomes ``list[X]`` (bounds
    apply to each item)."""
    origin = typing.get_origin(annotation)
    if origin is tuple:
        (item, *_) = typing.get_args(annotation)
        if bounds:
            item = typing.Annotated[item, Field(**bounds)]
        return list[item]  # type: ignore[valid-type]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = tuple(_config_annotation(a) for a in typing.get_args(annotation))
        return typing.Union[args]  # noqa: UP007 (built from a tuple)
    return annotation


def _field(item: Parameter) -> tuple[Any, Any]:
    default = item.default
    extra: dict[str, Any] = {}
    if isinstance(default, tuple):  # a list default, of plain values (Dagster stores defaults)
        default = [v.value if isinstance(v, Enum) else v for v in default]
        extra["validate_default"] = True  # … which the config object holds as enums again
    if item.choices:
        extra["pattern"] = "^(" + "|".join(item.choices) + ")$"
    if isinstance(item.default, tuple):
        return _config_annotation(item.annotation, item.bounds), Field(
            default=default, description=item.description, **extra
        )
    return _config_annotation(item.annotation), Field(
        default=default, description=item.description, **item.bounds, **extra
    )


def config_class(
    name: str,
    *settings: type,
    doc: str,
    **own: tuple[Any, Any],
) -> type[dg.Config]:
    """A ``dg.Config`` subclass named ``name`` with every field of ``settings`` and ``own``.

    Parameters
    ----------
    settings : settings dataclasses
        Their :func:`~cell_assets.parameters.parameter` fields, in order; a field
        name shared by two classes must be declared alike (same type and default).
    own : (annotation, pydantic Field)
        Fields that belong to the asset only (e.g. the method choice), first.

    Raises
    ------
    TypeError
        Two settings classes declare one name differently.
    """
    fields: dict[str, tuple[Any, Any]] = dict(own)
    declared: dict[str, Parameter] = {}
    for cls in settings:
        for item in parameters_of(cls):
            earlier = declared.get(item.name)
            if earlier is not None:
                if (earlier.annotation, earlier.default) != (item.annotation, item.default):
                    raise TypeError(f"{name}: {item.name} is declared differently in {cls}")
                continue
            declared[item.name] = item
            fields[item.name] = _field(item)
    model = pydantic.create_model(name, __base__=dg.Config, **fields)  # type: ignore[call-overload]
    model.__doc__ = doc
    return model
