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

import numpy as np


def explicit(value: Any) -> Any:
    """``value`` with NaN → None, ±inf → "inf"/"-inf", numpy scalars → Python (recursively)."""
    if isinstance(value, np.generic):
        value = value.item()
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
    if isinstance(value, np.ndarray):
        return explicit(value.tolist())
    if isinstance(value, Path):
        return str(value)
    return value


def dumps(value: Any, indent: int | None = 1) -> str:
    """Valid JSON text for ``value`` (see :func:`explicit`)."""
    return json.dumps(explicit(value), indent=indent, allow_nan=False)


def write_json(path: str | Path, value: Any) -> None:
    """Write ``value`` as valid JSON to ``path``."""
    Path(path).write_text(dumps(value))
