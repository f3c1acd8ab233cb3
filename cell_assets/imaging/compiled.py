"""How the imaging code's per-pixel and per-object loops are compiled on the CPU (numba), declared
once.

* ``cache``: compiled once per machine, not once per run process (a run is a fresh process);
* ``nogil``: the loops release Python's lock, so threads can run them side by side;
* ``error_model="numpy"``: a division by zero gives inf/NaN, as the torch code it stands in
  for does, instead of raising.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba

if TYPE_CHECKING:
    import torch

compiled = numba.njit(cache=True, nogil=True, error_model="numpy")

# The torch passes are what runs off the CPU; a test sets this to check them on the CPU.
TORCH_EVERYWHERE = False


def compiled_on(device: torch.device) -> bool:
    """Whether the compiled loops run for data on ``device``: on the CPU, unless the torch
    passes are forced (:data:`TORCH_EVERYWHERE`)."""
    return device.type == "cpu" and not TORCH_EVERYWHERE
