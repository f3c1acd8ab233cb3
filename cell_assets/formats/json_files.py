"""JSON files and manifests: only valid JSON, with undefined and infinite figures made explicit.

``json.dumps`` writes ``NaN`` and ``Infinity`` by default, which no strict JSON
reader accepts. Here a NaN becomes ``null`` and ±infinity the strings
``"inf"`` / ``"-inf"`` (e.g. the PSNR of an image encoded exactly), numpy
scalars become Python numbers, and anything else non-finite is refused.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def explicit(value: Any) -> Any:
    """``value`` with NaN → None, ±inf → "inf"/"-inf", numpy scalars → Python (recursively)."""
    # numpy scalars and arrays by their interface: this module must not import numpy (it is
    # on the code location's import path, which every run process pays for)
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {str(k): explicit(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [explicit(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def dumps(value: Any, indent: int | None = 1) -> str:
    """Valid JSON text for ``value`` (see :func:`explicit`)."""
    return json.dumps(explicit(value), indent=indent, allow_nan=False)


def write_json(path: str | Path, value: Any) -> None:
    """Write ``value`` as valid JSON to ``path``."""
    Path(path).write_text(dumps(value))
