"""What every benchmark shares: best-of timing, and a synthetic plate prepared with the asset code.

Each benchmark times the exact asset code (invoked directly, without Dagster's
run machinery, whose cost ``cell-assets bench dagster`` measures) and a floor
that does only the unavoidable work on the same data, then prints the ratio.
Times are the best of ``repeats`` runs of each side, interleaved, because these
machines are shared and noisy.
"""

from __future__ import annotations

import inspect
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click
import dagster as dg

from cell_assets.assets.compression import CompressionConfig, compressed_images
from cell_assets.assets.context import PartitionContext, PlatesOfRun
from cell_assets.assets.definition import partition_body
from cell_assets.assets.illumination import IlluminationConfig, illumination_functions
from cell_assets.assets.image_directory import ImageDirectoryConfig, image_directory
from cell_assets.orchestration.io_manager import ArtifactStoreResource
from cell_assets.orchestration.partitions import plates_partitions
from cell_assets.orchestration.resources import RawPlatesResource
from cell_assets.storage import ArtifactHandle, LocalArtifactStore, StagedArtifact
from cell_assets.synthetic import SyntheticPlateSpec, make_plate

BENCH_PLATE = "BENCH-P1"
BENCH_LOG = logging.getLogger("cell_assets.cli.benchmarks")


def best_of(repeats: int, *runs: Callable[[], None]) -> list[float]:
    """Best wall time (s) of each of ``runs`` over ``repeats`` interleaved rounds."""
    best = [float("inf")] * len(runs)
    for _ in range(repeats):
        for i, run in enumerate(runs):
            started = time.perf_counter()
            run()
            best[i] = min(best[i], time.perf_counter() - started)
    return best


def timed(work: Callable[[], object]) -> float:
    """Wall time (s) of one call of ``work``."""
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a server a benchmark starts)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def s3_server(endpoint_url: str | None = None) -> Iterator[tuple[str, dict[str, str]]]:
    """``(endpoint URL, boto3 credentials)`` of an S3 server: ``endpoint_url`` with the AWS
    credential chain, or moto's standalone server started on 127.0.0.1 for the block."""
    if endpoint_url is not None:
        yield endpoint_url, {}
        return
    from moto.server import ThreadedMotoServer

    port = free_port()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield (
            f"http://127.0.0.1:{port}",
            {"aws_access_key_id": "bench", "aws_secret_access_key": "bench",
             "region_name": "us-east-1"},
        )  # fmt: skip
    finally:
        server.stop()


def output_of(result: object) -> StagedArtifact:
    """The StagedArtifact an asset function returned (or yielded)."""
    if isinstance(result, dg.Output):
        return result.value
    outputs = list(result)  # generator assets
    return outputs[0].value


@dataclass
class BenchPlate:
    """A synthetic plate registered in an ephemeral instance, its image directories committed."""

    scratch: Path
    wells: list[str]
    instance: dg.DagsterInstance
    raw_plates: RawPlatesResource
    store: LocalArtifactStore
    directories: dict[str, ArtifactHandle]
    _plates: PlatesOfRun | None = None

    def materialize(self, asset, well: str | None, config: dg.Config, **inputs) -> ArtifactHandle:
        """Run an asset's own function (no Dagster run) on one partition and commit its output."""
        body = partition_body(asset)
        resources = {"raw_plates": self.raw_plates, "artifact_store": self.artifact_store}
        wanted = inspect.signature(body).parameters
        given = {name: value for name, value in resources.items() if name in wanted}
        context = PartitionContext(
            BENCH_PLATE, well, self.plates, BENCH_LOG, self.instance, "benchmark"
        )
        staged = output_of(body(context, config=config, **given, **inputs))
        partition = (BENCH_PLATE, well) if well else (BENCH_PLATE,)
        return self.store.commit(asset.key.to_user_string(), partition, staged)

    @property
    def plates(self) -> PlatesOfRun:
        """The benchmark plate, opened once (as a run opens it)."""
        if self._plates is None:
            self._plates = PlatesOfRun(lambda plate: self.raw_plates.open().open(plate))
        return self._plates

    @property
    def artifact_store(self) -> ArtifactStoreResource:
        return ArtifactStoreResource(root=self.store.root)


def bench_plate(wells: list[str], sites: int, size: int, workdir: Path | None) -> BenchPlate:
    """Make the benchmark plate in ``workdir`` (or a temp dir); commit its image directories."""
    scratch = Path(workdir or tempfile.mkdtemp(prefix="cell_assets_bench_"))
    raw_root, store_root = scratch / "raw", scratch / "store"
    spec = SyntheticPlateSpec("BENCH", BENCH_PLATE, tuple(wells), sites=sites, size=size)
    click.echo(
        f"plate: {len(wells)} wells × {sites} sites × {len(spec.channels)} channels, "
        f"{size}×{size} px 16-bit → {scratch}"
    )
    make_plate(spec, raw_root, scratch / "ground_truth")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(plates_partitions.name, [BENCH_PLATE])
    plate = BenchPlate(
        scratch,
        wells,
        instance,
        RawPlatesResource(root=str(raw_root)),
        LocalArtifactStore(store_root),
        {},
    )
    for well in wells:
        plate.directories[well] = plate.materialize(image_directory, well, ImageDirectoryConfig())
    return plate


def estimate_illumination(
    plate: BenchPlate, config: IlluminationConfig | None = None
) -> ArtifactHandle:
    """The plate's illumination functions (asset code), committed; default config unless given."""
    return plate.materialize(
        illumination_functions,
        None,
        config or IlluminationConfig(),
        image_directory=plate.directories,
    )


def prepare_plate(plate: BenchPlate) -> dict[str, ArtifactHandle]:
    """Illumination functions and compressed images of every well (asset code); returns the
    compressed handles.
    """
    illum = estimate_illumination(plate)
    return {
        well: plate.materialize(
            compressed_images,
            well,
            CompressionConfig(),
            image_directory=plate.directories[well],
            illumination_functions=illum,
        )
        for well in plate.wells
    }


def not_curated(
    plate: BenchPlate, compressed: dict[str, ArtifactHandle]
) -> dict[str, ArtifactHandle]:
    """Each well's ``curated_masks`` artifact (nobody curated a benchmark plate)."""
    from cell_assets.assets.curation import CuratedMasksConfig, curated_masks

    return {
        well: plate.materialize(
            curated_masks, well, CuratedMasksConfig(), compressed_images=compressed[well]
        )
        for well in compressed
    }


def segment_wells(
    plate: BenchPlate,
    compressed: dict[str, ArtifactHandle],
    config: dg.Config,
    curated: dict[str, ArtifactHandle] | None = None,
) -> dict[str, ArtifactHandle]:
    """``segmentation_masks`` of every well of ``compressed`` (asset code), committed;
    ``curated``: each well's curated_masks (default: made here, nobody curated)."""
    from cell_assets.assets.segmentation import segmentation_masks

    curated = curated or not_curated(plate, compressed)
    return {
        well: plate.materialize(
            segmentation_masks,
            well,
            config,
            compressed_images=compressed[well],
            curated_masks=curated[well],
        )
        for well in compressed
    }
