"""CNN embeddings of single-cell crops from a user's TorchScript model (DeepProfiler-style)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where it is used: this module's enum is part of asset config
    import torch


class EmbeddingPreprocessing(str, Enum):
    """``minmax``: DeepProfiler's per-crop, per-channel min–max scaling; ``none``: as stored."""

    minmax = "minmax"
    none = "none"


def min_max_per_crop(crops: torch.Tensor) -> torch.Tensor:
    """DeepProfiler's CNN preprocessing: per-crop, per-channel ``(c - min) / (max - min + eps)``,
    ``(B, C, S, S)``.
    """
    low = crops.amin(dim=(2, 3), keepdim=True)
    high = crops.amax(dim=(2, 3), keepdim=True)
    return (crops - low) / (high - low + 1e-6)


class EmbeddingModelError(ValueError):
    """The model cannot be loaded or does not accept the crops (the message says why)."""


class CropEmbedder:
    """A TorchScript model taking ``(B, C, S, S)`` float32 crops and returning ``(B, D)`` features.

    Parameters
    ----------
    model_path : path
        ``torch.jit.save``-d model.
    device : torch.device
    preprocessing : EmbeddingPreprocessing
    """

    def __init__(
        self,
        model_path: str | Path,
        device: torch.device,
        preprocessing: EmbeddingPreprocessing | str = EmbeddingPreprocessing.minmax,
    ) -> None:
        import torch

        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise EmbeddingModelError(f"embedding model {self.model_path} does not exist")
        try:
            preprocessing = EmbeddingPreprocessing(preprocessing)
        except ValueError:
            raise EmbeddingModelError(
                f"preprocessing must be 'minmax' or 'none', got {preprocessing!r}"
            ) from None
        try:
            self.model = torch.jit.load(str(self.model_path), map_location=device).eval()
        except Exception as exc:  # torch raises several types for non-TorchScript files
            raise EmbeddingModelError(
                f"{self.model_path} is not a TorchScript model ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200]})"
            ) from None
        self.device = device
        self.preprocessing = preprocessing
        self.dimension: int | None = None

    def __call__(self, images: torch.Tensor, channel_names: list[str]) -> torch.Tensor:
        """Embed ``(B, C, S, S)`` image channels (no masks) as ``(B, D)`` float32 on the CPU."""
        import torch

        batch = images.to(self.device, torch.float32)
        if self.preprocessing is EmbeddingPreprocessing.minmax:
            batch = min_max_per_crop(batch)
        try:
            with torch.inference_mode():
                output = self.model(batch)
        except Exception as exc:
            raise EmbeddingModelError(
                f"model {self.model_path.name} failed on crops of shape {tuple(batch.shape)} "
                f"(channels {channel_names}); does it expect {len(channel_names)} input "
                f"channels of {batch.shape[-1]} px? ({str(exc).splitlines()[0][:300]})"
            ) from None
        if output.ndim != 2 or output.shape[0] != batch.shape[0]:
            raise EmbeddingModelError(
                f"model {self.model_path.name} returned shape {tuple(output.shape)}, expected "
                "(batch, features)"
            )
        self.dimension = int(output.shape[1])
        return output.float().cpu()
