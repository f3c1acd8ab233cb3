"""Config choices shared by several assets (Dagster config needs Enums for fixed choices)."""

from enum import Enum


class Device(Enum):
    """Where torch work runs: ``auto`` = the GPU when torch sees one, else the CPU."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
