"""The deployment's settings, as the environment gives them: every variable named once, here.

Only the edges read the environment: ``definitions.py`` (the code location
Dagster loads) and the ``cell-assets`` command each call
:meth:`Deployment.from_environment` with ``os.environ`` and pass the values
down; nothing below them reads a variable.

==================================  ==========================================================
variable                            meaning (default)
==================================  ==========================================================
``CELL_ASSETS_RAW_ROOT``            upload root, folder or ``s3://bucket/prefix`` (data/raw)
``CELL_ASSETS_STORE_ROOT``          artifact store root, folder or ``s3://…`` (data/store)
``CELL_ASSETS_CACHE_DIR``           S3 downloads and raw-plate mirrors (~/.cache/cell_assets)
``CELL_ASSETS_EXECUTOR``            ``in_process`` | ``celery`` | ``k8s`` (in_process)
``CELL_ASSETS_CELERY_BROKER``       Celery broker URL (read by dagster-celery's executor)
``CELL_ASSETS_CELERY_BACKEND``      Celery result backend URL (likewise)
``CELL_ASSETS_GPU_NODE_SELECTOR``   JSON node selector of GPU step pods
                                    ({"nvidia.com/gpu.present": "true"})
``CELL_ASSETS_GPU_TOLERATIONS``     JSON tolerations of GPU step pods (the nvidia.com/gpu taint)
``CELL_ASSETS_GPUS_PER_STEP``       GPUs a GPU step pod asks for (1)
``CELL_ASSETS_WELLS_PER_RUN``       wells with images per run of a well stage (the sensors: a
                                    plate fills the run slots, ≥ 8 wells a chunk)
``CELL_ASSETS_SENSOR_PLATES``       comma-separated plates the sensors start and carry on
                                    (all); ``cell-assets materialize P`` gives the daemon it
                                    starts ``P``, so that it leaves the root's other plates alone
``CELL_ASSETS_MAX_PLANE_PIXELS``    the most pixels one raw image plane may declare; a larger
                                    one is refused from its header, before decoding (16,384²)
==================================  ==========================================================
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

RAW_ROOT_ENV = "CELL_ASSETS_RAW_ROOT"
STORE_ROOT_ENV = "CELL_ASSETS_STORE_ROOT"
CACHE_DIR_ENV = "CELL_ASSETS_CACHE_DIR"
EXECUTOR_ENV = "CELL_ASSETS_EXECUTOR"
CELERY_BROKER_ENV = "CELL_ASSETS_CELERY_BROKER"
CELERY_BACKEND_ENV = "CELL_ASSETS_CELERY_BACKEND"
GPU_NODE_SELECTOR_ENV = "CELL_ASSETS_GPU_NODE_SELECTOR"
GPU_TOLERATIONS_ENV = "CELL_ASSETS_GPU_TOLERATIONS"
GPU_COUNT_ENV = "CELL_ASSETS_GPUS_PER_STEP"
WELLS_PER_RUN_ENV = "CELL_ASSETS_WELLS_PER_RUN"
SENSOR_PLATES_ENV = "CELL_ASSETS_SENSOR_PLATES"
MAX_PLANE_PIXELS_ENV = "CELL_ASSETS_MAX_PLANE_PIXELS"

DEFAULT_RAW_ROOT = "data/raw"
DEFAULT_STORE_ROOT = "data/store"
EXECUTORS = ("in_process", "celery", "k8s")
# The label NVIDIA's GPU feature discovery (GPU operator) puts on GPU nodes, and the
# taint GKE, AKS and the GPU operator's docs put on GPU node pools.
DEFAULT_GPU_NODE_SELECTOR = {"nvidia.com/gpu.present": "true"}
DEFAULT_GPU_TOLERATIONS = ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},)


class DeploymentError(ValueError):
    """A variable of the environment holds an unusable value (the message names it)."""


@dataclass(frozen=True)
class GpuPlacement:
    """What a GPU step's Kubernetes pod asks for (``k8s`` executor)."""

    gpus: int = 1
    node_selector: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_GPU_NODE_SELECTOR)
    )
    tolerations: tuple[Mapping[str, Any], ...] = DEFAULT_GPU_TOLERATIONS


@dataclass(frozen=True)
class Deployment:
    """Every deployment setting (see the module docstring for the variables)."""

    raw_root: str = DEFAULT_RAW_ROOT
    store_root: str = DEFAULT_STORE_ROOT
    cache_dir: str | None = None
    executor: str = "in_process"
    gpu: GpuPlacement = field(default_factory=GpuPlacement)
    wells_per_run: int | None = None
    sensor_plates: tuple[str, ...] | None = None
    # None: the readers' own limit (cell_assets.formats.images.MAX_PLANE_PIXELS)
    max_plane_pixels: int | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Deployment:
        """The settings an environment gives (``os.environ`` at an edge, a dict in a test).

        Raises
        ------
        DeploymentError
            A value that cannot be used, naming its variable.
        """
        executor = environ.get(EXECUTOR_ENV, "").strip() or "in_process"
        if executor not in EXECUTORS:
            raise DeploymentError(
                f"{EXECUTOR_ENV}={executor!r}: choose one of {', '.join(EXECUTORS)}"
            )
        return cls(
            raw_root=environ.get(RAW_ROOT_ENV) or DEFAULT_RAW_ROOT,
            store_root=environ.get(STORE_ROOT_ENV) or DEFAULT_STORE_ROOT,
            cache_dir=environ.get(CACHE_DIR_ENV) or None,
            executor=executor,
            gpu=GpuPlacement(
                gpus=_whole_number(environ, GPU_COUNT_ENV) or 1,
                node_selector=_json(
                    environ, GPU_NODE_SELECTOR_ENV, DEFAULT_GPU_NODE_SELECTOR, dict
                ),
                tolerations=tuple(
                    _json(environ, GPU_TOLERATIONS_ENV, list(DEFAULT_GPU_TOLERATIONS), list)
                ),
            ),
            wells_per_run=_whole_number(environ, WELLS_PER_RUN_ENV),
            sensor_plates=tuple(
                p.strip() for p in environ.get(SENSOR_PLATES_ENV, "").split(",") if p.strip()
            )
            or None,
            max_plane_pixels=_whole_number(environ, MAX_PLANE_PIXELS_ENV),
        )

    def process_environment(self) -> dict[str, str]:
        """The variables that give a child process (daemon, code server) these settings."""
        values = {RAW_ROOT_ENV: self.raw_root, STORE_ROOT_ENV: self.store_root}
        if self.cache_dir:
            values[CACHE_DIR_ENV] = self.cache_dir
        if self.wells_per_run:
            values[WELLS_PER_RUN_ENV] = str(self.wells_per_run)
        if self.sensor_plates:
            values[SENSOR_PLATES_ENV] = ",".join(self.sensor_plates)
        if self.max_plane_pixels:
            values[MAX_PLANE_PIXELS_ENV] = str(self.max_plane_pixels)
        return values


def _whole_number(environ: Mapping[str, str], name: str) -> int | None:
    value = environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise DeploymentError(f"{name} must be a whole number ≥ 1, got {value!r}")
    return int(value)


def _json(environ: Mapping[str, str], name: str, default: Any, kind: type) -> Any:
    raw = environ.get(name)
    if not raw:
        return default
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise DeploymentError(f"{name} is not JSON ({error}): {raw!r}") from error
    if not isinstance(value, kind):
        raise DeploymentError(f"{name} must be a JSON {kind.__name__}, got {raw!r}")
    return value
