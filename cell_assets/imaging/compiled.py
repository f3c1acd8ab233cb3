"""How the imaging code's per-pixel and per-object loops are compiled on the CPU (numba), declared
once.

* ``cache``: compiled once per machine, not once per run process (a run is a fresh process);
* ``nogil``: the loops release Python's lock, so threads can run them side by side;
* ``error_model="numpy"``: a division by zero gives inf/NaN, as the torch code it stands in
  for does, instead of raising.
"""

from __future__ import annotations

import numba

compiled = numba.njit(cache=True, nogil=True, error_model="numpy")
