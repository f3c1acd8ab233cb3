"""Settings declared once: a dataclass field that carries its description and its bounds.

The science's settings are frozen dataclasses in their domain module (e.g.
:class:`~cell_assets.imaging.segmentation_settings.ClassicalSettings`), each field
declared with :func:`parameter`. Everything that shows or takes a setting is
derived from that one declaration: the Dagster config classes
(:func:`cell_assets.orchestration.config.config_class`), the ``cell-assets`` options
(:func:`cell_assets.cli.options.parameter_options`) and the checks of values
typed anywhere (:func:`problems`).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

BOUNDS = ("ge", "gt", "le", "lt")


def parameter(
    default: Any,
    description: str,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A dataclass field with its description and bounds (``ge``, ``gt``, ``le``, ``lt``).

    A list or tuple default is copied for each instance.
    """
    metadata = {"description": description, "choices": choices}
    metadata |= {name: value for name, value in zip(BOUNDS, (ge, gt, le, lt), strict=True)}
    if isinstance(default, (list, tuple)):
        frozen = tuple(default)
        return dataclasses.field(default_factory=lambda: frozen, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Parameter:
    """One declared setting: name, type, default, description, bounds."""

    name: str
    annotation: Any
    default: Any
    description: str
    bounds: dict[str, float]
    choices: tuple[str, ...] | None = None


def parameters_of(settings: type) -> list[Parameter]:
    """The declared settings of a settings dataclass, in field order."""
    hints = typing.get_type_hints(settings)
    found = []
    for item in dataclasses.fields(settings):
        if "description" not in item.metadata:
            continue
        default = (
            item.default_factory()  # type: ignore[misc]
            if item.default_factory is not dataclasses.MISSING
            else item.default
        )
        bounds = {
            name: item.metadata[name] for name in BOUNDS if item.metadata.get(name) is not None
        }
        found.append(
            Parameter(
                item.name,
                hints[item.name],
                default,
                item.metadata["description"],
                bounds,
                item.metadata.get("choices"),
            )
        )
    return found


_CHECKS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "ge": (lambda v, b: v >= b, "≥"),
    "gt": (lambda v, b: v > b, ">"),
    "le": (lambda v, b: v <= b, "≤"),
    "lt": (lambda v, b: v < b, "<"),
}


def problems(settings: Any) -> list[str]:
    """``"<field>: …"`` for every value of a settings object outside its declared bounds."""
    found = []
    for item in parameters_of(type(settings)):
        value = getattr(settings, item.name)
        values = value if isinstance(value, (list, tuple)) else [value]
        for one in values:
            if not isinstance(one, (int, float)) or isinstance(one, bool):
                continue
            if isinstance(one, float) and not math.isfinite(one):
                found.append(f"{item.name}: must be a finite number, got {one}")
                continue
            for name, bound in item.bounds.items():
                accept, sign = _CHECKS[name]
                if not accept(one, bound):
                    found.append(f"{item.name}: must be {sign} {bound}, got {one}")
        if item.choices and value is not None and value not in item.choices:
            found.append(f"{item.name}: must be one of {', '.join(item.choices)}, got {value!r}")
    return found


def from_values(settings: type, values: Any) -> Any:
    """A settings object from anything with the fields as attributes or keys (lists → tuples)."""
    taken = {}
    for item in parameters_of(settings):
        value = values[item.name] if isinstance(values, dict) else getattr(values, item.name)
        taken[item.name] = tuple(value) if isinstance(value, list) else value
    return settings(**taken)
