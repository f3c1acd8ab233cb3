"""Where a run's steps execute beyond one process, and what GPU steps ask of a cluster.

The code location picks its executor from ``CELL_ASSETS_EXECUTOR`` when Dagster
loads it, so the same image serves every deployment (deploy/README.md):

* ``in_process`` (default): every step in the run's own process (one process per
  run; a workstation, the compose stack);
* ``celery``: each step is a Celery task on the workers of a broker
  (``CELL_ASSETS_CELERY_BROKER``, ``CELL_ASSETS_CELERY_BACKEND``); GPU steps go to
  the ``gpu`` queue, so only workers started with ``-q gpu`` on GPU machines take them;
* ``k8s``: each step in its own Kubernetes Job (``k8s_job_executor``, Helm chart);
  GPU steps carry the ``dagster-k8s/config`` tags below.

The GPU steps' pod settings come from the environment too (JSON), so a cluster
whose GPU nodes carry other labels or taints needs no code change.
"""

from __future__ import annotations

import json
import os
from typing import Any

import dagster as dg

EXECUTOR_ENV = "CELL_ASSETS_EXECUTOR"
CELERY_BROKER_ENV = "CELL_ASSETS_CELERY_BROKER"
CELERY_BACKEND_ENV = "CELL_ASSETS_CELERY_BACKEND"
GPU_NODE_SELECTOR_ENV = "CELL_ASSETS_GPU_NODE_SELECTOR"
GPU_TOLERATIONS_ENV = "CELL_ASSETS_GPU_TOLERATIONS"
GPU_COUNT_ENV = "CELL_ASSETS_GPUS_PER_STEP"

GPU_QUEUE = "gpu"
EXECUTORS = ("in_process", "celery", "k8s")

# The label NVIDIA's GPU feature discovery (GPU operator) puts on GPU nodes, and the
# taint GKE, AKS and the GPU operator's docs put on GPU node pools.
DEFAULT_GPU_NODE_SELECTOR = {"nvidia.com/gpu.present": "true"}
DEFAULT_GPU_TOLERATIONS = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


class PlacementError(ValueError):
    """An executor name or a GPU placement setting in the environment is unusable."""


def _json_setting(name: str, default: Any, kind: type) -> Any:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise PlacementError(f"{name} is not JSON ({error}): {raw!r}") from error
    if not isinstance(value, kind):
        raise PlacementError(f"{name} must be a JSON {kind.__name__}, got {raw!r}")
    return value


def gpu_step_tags() -> dict[str, Any]:
    """Op tags of a step that wants a GPU: one ``nvidia.com/gpu`` (K8s) and the ``gpu`` queue.

    Returns
    -------
    dict
        ``dagster-k8s/config`` (container GPU limit and request, tolerations, node
        selector) and ``dagster-celery/queue``.
    """
    count = os.environ.get(GPU_COUNT_ENV, "1")
    if not count.isdigit() or int(count) < 1:
        raise PlacementError(f"{GPU_COUNT_ENV} must be a whole number ≥ 1, got {count!r}")
    gpus = {"nvidia.com/gpu": count}
    return {
        "dagster-k8s/config": {
            "container_config": {"resources": {"limits": gpus, "requests": gpus}},
            "pod_spec_config": {
                "tolerations": _json_setting(GPU_TOLERATIONS_ENV, DEFAULT_GPU_TOLERATIONS, list),
                "node_selector": _json_setting(
                    GPU_NODE_SELECTOR_ENV, DEFAULT_GPU_NODE_SELECTOR, dict
                ),
            },
        },
        "dagster-celery/queue": GPU_QUEUE,
    }


def chosen_executor() -> dg.ExecutorDefinition:
    """The executor named by ``CELL_ASSETS_EXECUTOR`` (default ``in_process``)."""
    name = os.environ.get(EXECUTOR_ENV, "in_process") or "in_process"
    if name == "in_process":
        return dg.in_process_executor
    if name == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(
            {"broker": {"env": CELERY_BROKER_ENV}, "backend": {"env": CELERY_BACKEND_ENV}},
            name="celery",
        )
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    raise PlacementError(f"{EXECUTOR_ENV}={name!r}: choose one of {', '.join(EXECUTORS)}")
