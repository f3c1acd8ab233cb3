"""A small client for the Dagster webserver's GraphQL API (the interface the UI uses)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class GraphQLError(RuntimeError):
    """The webserver cannot be reached or refused the request (the message says which)."""


def graphql(url: str, query: str, variables: dict[str, Any] | None = None, timeout: float = 60):
    """POST ``query`` to ``<url>/graphql``; the ``data`` of the answer."""
    endpoint = url.rstrip("/") + "/graphql"
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        endpoint, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # the webserver answers errors with a JSON body too
        try:
            answer = json.loads(exc.read())
        except ValueError:
            raise GraphQLError(f"{endpoint} answered HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        raise GraphQLError(
            f"cannot reach the Dagster webserver at {endpoint}: {exc.reason}"
        ) from None
    except (TimeoutError, OSError) as exc:
        raise GraphQLError(f"cannot reach the Dagster webserver at {endpoint}: {exc}") from None
    if answer.get("errors") or not answer.get("data"):
        message = (answer.get("errors") or [{}])[0].get("message", "no data in the answer")
        raise GraphQLError(f"{endpoint}: {message}")
    return answer["data"]


LAUNCH_BACKFILL = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message }
    ... on PartitionSetNotFoundError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { stepKey invalidOutputName }
  }
}
"""

BACKFILL_STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      id
      status
      assetBackfillData {
        assetBackfillStatuses {
          __typename
          ... on AssetPartitionsStatusCounts {
            assetKey { path }
            numPartitionsTargeted
            numPartitionsInProgress
            numPartitionsMaterialized
            numPartitionsFailed
          }
        }
      }
    }
    ... on PythonError { message }
    ... on BackfillNotFoundError { message }
  }
}
"""


def launch_backfill(url: str, ranges: dict[str, list[tuple[str, str]]], tags: dict[str, str],
                    title: str) -> str:  # fmt: skip
    """Launch one asset backfill over ``{asset: [(start, end), …]}``; returns its id."""
    params = {
        "partitionsByAssets": [
            {
                "assetKey": {"path": asset.split("/")},
                "partitions": {"ranges": [{"start": s, "end": e} for s, e in spans]},
            }
            for asset, spans in ranges.items()
        ],
        "tags": [{"key": k, "value": v} for k, v in tags.items()],
        "title": title,
    }
    answer = graphql(url, LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    if answer["__typename"] != "LaunchBackfillSuccess":
        raise GraphQLError(f"backfill refused ({answer['__typename']}): {answer}")
    return answer["backfillId"]


def backfill_status(url: str, backfill_id: str) -> dict[str, Any]:
    """``{"status": …, "assets": {asset: {targeted, in_progress, materialized, failed}}}``."""
    answer = graphql(url, BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
    if answer["__typename"] != "PartitionBackfill":
        raise GraphQLError(f"backfill {backfill_id}: {answer.get('message', answer)}")
    assets = {}
    for status in (answer.get("assetBackfillData") or {}).get("assetBackfillStatuses", []):
        if status["__typename"] == "AssetPartitionsStatusCounts":
            assets["/".join(status["assetKey"]["path"])] = {
                "targeted": status["numPartitionsTargeted"],
                "in_progress": status["numPartitionsInProgress"],
                "materialized": status["numPartitionsMaterialized"],
                "failed": status["numPartitionsFailed"],
            }
    return {"status": answer["status"], "assets": assets}


BACKFILL_RUN_TAGS = """
query BackfillRuns($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { runs(limit: 10000) { runId tags { key value } } }
    ... on PythonError { message }
  }
}
"""


def backfill_run_tags(url: str, backfill_id: str) -> list[dict[str, str]]:
    """The tags of every run of a backfill (one dict per run)."""
    answer = graphql(url, BACKFILL_RUN_TAGS, {"id": backfill_id})["partitionBackfillOrError"]
    if answer["__typename"] != "PartitionBackfill":
        raise GraphQLError(f"backfill {backfill_id}: {answer.get('message', answer)}")
    return [{tag["key"]: tag["value"] for tag in run["tags"]} for run in answer["runs"]]


REGISTERED_PLATES = """
query Plates {
  partitionSetsOrError: assetNodeOrError(assetKey: {path: ["illumination_functions"]}) {
    __typename
    ... on AssetNode { partitionKeys }
  }
}
"""


def registered_plates(url: str) -> set[str]:
    """The plates the instance knows (the ``plates`` partitions), as the webserver reports them."""
    answer = graphql(url, REGISTERED_PLATES)["partitionSetsOrError"]
    if answer["__typename"] != "AssetNode":
        raise GraphQLError(f"the code location at {url} has no illumination_functions asset")
    return set(answer["partitionKeys"])


RESOURCE_VALUES = """
query Resources {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes { allTopLevelResourceDetails { name configuredValues { key value type } } }
    }
  }
}
"""


def raw_root_of(url: str) -> str | None:
    """The raw upload root the webserver's code location was given (``raw_plates.root``).

    None when no code location there has a ``raw_plates`` resource with a plain value
    (one read from an environment variable is not shown by Dagster).
    """
    answer = graphql(url, RESOURCE_VALUES)["repositoriesOrError"]
    if answer["__typename"] != "RepositoryConnection":
        raise GraphQLError(f"the webserver at {url} lists no code location: {answer}")
    for repository in answer["nodes"]:
        for resource in repository["allTopLevelResourceDetails"]:
            if resource["name"] != "raw_plates":
                continue
            for value in resource["configuredValues"]:
                if value["key"] == "root" and value["type"] == "VALUE":
                    try:  # Dagster gives the value as JSON text
                        return str(json.loads(value["value"]))
                    except json.JSONDecodeError:
                        return value["value"]
    return None


LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    ... on RunConflict { message }
    ... on UnauthorizedError { message }
  }
}
"""


def launch_run(
    url: str, job: str, run_config: dict[str, Any], tags: dict[str, str],
    location: str = "cell_assets.definitions",
) -> str:  # fmt: skip
    """Launch one run of ``job`` as the launchpad does; returns its id.

    Raises :class:`GraphQLError` with the instance's own words when the run is
    refused (e.g. a configuration value out of range).
    """
    params = {
        "selector": {
            "repositoryLocationName": location,
            "repositoryName": "__repository__",
            "jobName": job,
        },
        "runConfigData": run_config,
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
    }
    answer = graphql(url, LAUNCH_RUN, {"params": params})["launchRun"]
    if answer["__typename"] == "LaunchRunSuccess":
        return answer["run"]["runId"]
    if answer["__typename"] == "RunConfigValidationInvalid":
        message = "; ".join(error["message"] for error in answer["errors"])
    else:
        message = answer.get("message", answer["__typename"])
    raise GraphQLError(f"run of {job} refused: {message.strip().splitlines()[-1]}")
