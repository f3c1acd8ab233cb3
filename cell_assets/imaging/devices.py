"""Choosing the torch device for Cellpose and the feature extractor."""

from __future__ import annotations

DEVICES = ("auto", "cpu", "cuda")


class DeviceError(ValueError):
    """The device asked for is unknown or absent."""


def select_device(device: str):
    """``auto`` → CUDA when torch sees a GPU, else CPU; ``cuda`` without a GPU is an error. Returns a torch.device."""
    import torch

    if device not in DEVICES:
        raise DeviceError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise DeviceError("device 'cuda' was asked for but torch sees no CUDA GPU (use 'auto' or 'cpu')")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)
