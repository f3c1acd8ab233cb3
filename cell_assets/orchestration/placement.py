"""Where a run's steps execute beyond one process, and what GPU steps ask of a cluster.

The executor is chosen from the deployment's settings
(:class:`~cell_assets.environment.Deployment`, read from the environment by
``definitions.py``), so the same image serves every deployment (deploy/README.md):

* ``in_process`` (default): every step in the run's own process (one process per
  run; a workstation, the compose stack);
* ``celery``: each step is a Celery task on the workers of a broker; GPU steps
  carry the ``gpu`` queue tag, so only workers started with ``-q gpu`` on GPU
  machines take them;
* ``k8s``: each step in its own Kubernetes Job (``k8s_job_executor``, Helm chart);
  GPU steps' pods ask for the GPUs, tolerations and node selector of the
  deployment's :class:`~cell_assets.environment.GpuPlacement` (the executor's
  ``per_step_k8s_config``).

An asset that wants a GPU declares it with :func:`gpu_step_tags`: static op tags,
the same in every process that imports the asset.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import dagster as dg

from cell_assets.environment import CELERY_BACKEND_ENV, CELERY_BROKER_ENV, Deployment, GpuPlacement

GPU_QUEUE = "gpu"
DEVICE_TAG = "cell_assets/device"
CELERY_QUEUE_TAG = "dagster-celery/queue"


def gpu_step_tags() -> dict[str, str]:
    """Op tags of a step that wants a GPU: placement's marker and the Celery ``gpu`` queue."""
    return {DEVICE_TAG: "gpu", CELERY_QUEUE_TAG: GPU_QUEUE}


def gpu_pod_config(gpu: GpuPlacement) -> dict[str, Any]:
    """The ``dagster-k8s/config`` of a GPU step's pod: GPU limit and request, tolerations, node
    selector."""
    gpus = {"nvidia.com/gpu": str(gpu.gpus)}
    return {
        "container_config": {"resources": {"limits": gpus, "requests": gpus}},
        "pod_spec_config": {
            "tolerations": [dict(t) for t in gpu.tolerations],
            "node_selector": dict(gpu.node_selector),
        },
    }


def gpu_ops(assets: Iterable[dg.AssetsDefinition]) -> list[str]:
    """The op names of the assets that carry :func:`gpu_step_tags`."""
    return sorted(a.op.name for a in assets if a.op.tags.get(DEVICE_TAG) == "gpu")


def chosen_executor(
    deployment: Deployment, assets: Iterable[dg.AssetsDefinition] = ()
) -> dg.ExecutorDefinition:
    """The executor the deployment names; with ``k8s``, the GPU steps of ``assets`` get GPU pods."""
    if deployment.executor == "in_process":
        return dg.in_process_executor
    if deployment.executor == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(
            {"broker": {"env": CELERY_BROKER_ENV}, "backend": {"env": CELERY_BACKEND_ENV}},
            name="celery",
        )
    from dagster_k8s import k8s_job_executor

    pod = gpu_pod_config(deployment.gpu)
    return k8s_job_executor.configured(
        {"per_step_k8s_config": {op: pod for op in gpu_ops(assets)}}, name="k8s"
    )
