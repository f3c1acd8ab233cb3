"""Choosing the torch device for Cellpose and the feature extractor."""

from __future__ import annotations

from enum import Enum


class Device(str, Enum):
    """Where torch work runs: ``auto`` = the GPU when torch sees one, else the CPU."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class DeviceError(ValueError):
    """The device asked for is unknown or absent."""


def select_device(device: Device | str):
    """``auto`` → CUDA when torch sees a GPU, else CPU; ``cuda`` without a GPU is an error.

    Returns
    -------
    torch.device
    """
    import torch

    try:
        device = Device(device)
    except ValueError:
        raise DeviceError(
            f"device must be one of {[d.value for d in Device]}, got {device!r}"
        ) from None
    if device is Device.cuda and not torch.cuda.is_available():
        raise DeviceError(
            "device 'cuda' was asked for but torch sees no CUDA GPU (use 'auto' or 'cpu')"
        )
    if device is Device.auto:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device.value)
