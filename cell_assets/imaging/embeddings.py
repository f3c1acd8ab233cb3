"""CNN embeddings of single-cell crops from a user's TorchScript model (DeepProfiler-style)."""

from __future__ import annotations

from pathlib import Path

from cell_assets.imaging.features import min_max_per_crop


class EmbeddingModelError(ValueError):
    """The model cannot be loaded or does not accept the crops (the message says why)."""


class CropEmbedder:
    """A TorchScript model taking ``(B, C, S, S)`` float32 crops and returning ``(B, D)`` features.

    Parameters
    ----------
    model_path : path
        ``torch.jit.save``-d model.
    device : torch.device
    preprocessing : {'minmax', 'none'}
        ``minmax`` = DeepProfiler's per-crop, per-channel min–max scaling.
    """

    def __init__(self, model_path: str | Path, device, preprocessing: str = "minmax") -> None:
        import torch

        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise EmbeddingModelError(f"embedding model {self.model_path} does not exist")
        if preprocessing not in ("minmax", "none"):
            raise EmbeddingModelError(f"preprocessing must be 'minmax' or 'none', got {preprocessing!r}")
        try:
            self.model = torch.jit.load(str(self.model_path), map_location=device).eval()
        except Exception as exc:  # torch raises several types for non-TorchScript files
            raise EmbeddingModelError(f"{self.model_path} is not a TorchScript model ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
        self.device = device
        self.preprocessing = preprocessing
        self.dimension: int | None = None

    def __call__(self, images, channel_names: list[str]):
        """Embed ``(B, C, S, S)`` image channels (no masks); returns ``(B, D)`` float32 on the CPU."""
        import torch

        batch = images.to(self.device, torch.float32)
        if self.preprocessing == "minmax":
            batch = min_max_per_crop(batch)
        try:
            with torch.inference_mode():
                output = self.model(batch)
        except Exception as exc:
            raise EmbeddingModelError(
                f"model {self.model_path.name} failed on crops of shape {tuple(batch.shape)} (channels {channel_names}); "
                f"does it expect {len(channel_names)} input channels of {batch.shape[-1]} px? ({str(exc).splitlines()[0][:300]})"
            ) from None
        if output.ndim != 2 or output.shape[0] != batch.shape[0]:
            raise EmbeddingModelError(f"model {self.model_path.name} returned shape {tuple(output.shape)}, expected (batch, features)")
        self.dimension = int(output.shape[1])
        return output.float().cpu()
