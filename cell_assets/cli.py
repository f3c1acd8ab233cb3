"""The ``cell-assets`` command: synthetic plates, registration, runs, demo and benchmarks."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from cell_assets.errors import ArtifactError, PlateInputError
from cell_assets.partitions import ROWS_384, normalize_well_id, well_row_column


def parse_wells(text: str) -> list[str]:
    """Wells from ``A01,A02`` and/or rectangles ``A01-B12`` (rows A–B × columns 1–12)."""
    wells: list[str] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if "-" in part:
            start, end = (normalize_well_id(x) for x in part.split("-", 1))
            (r0, c0), (r1, c1) = well_row_column(start), well_row_column(end)
            rows = ROWS_384[ROWS_384.index(min(r0, r1)) : ROWS_384.index(max(r0, r1)) + 1]
            wells += [f"{r}{c:02d}" for r in rows for c in range(min(c0, c1), max(c0, c1) + 1)]
        else:
            wells.append(normalize_well_id(part))
    return list(dict.fromkeys(wells))


class Progress:
    """Per-step progress lines with counts and rates (no terminal tricks: logs stay readable)."""

    def __init__(self, label: str, unit: str = "items") -> None:
        self.label, self.unit, self.started = label, unit, time.perf_counter()

    def __call__(self, done: int, total: int, what: str = "") -> None:
        elapsed = time.perf_counter() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        click.echo(f"  [{self.label}] {done}/{total} {self.unit}  {what}  {elapsed:6.1f} s  ({rate:.2f} {self.unit}/s)")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """cell_assets: microscopy plates → per-cell feature tables, as Dagster assets.

    Typical session: `make-plate` (or upload a real plate), `register`, then
    `materialize` or `dagster dev` and the UI. `demo` does all of it on a small
    synthetic plate.
    """


@main.command("make-plate")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--experiment", default="EXP1", show_default=True, help="Experiment folder name.")
@click.option("--plate", default="P1", show_default=True, help="Plate id ([A-Za-z0-9_.-]+).")
@click.option("--wells", default="A01-A12", show_default=True, help="Wells: A01,A02 or rectangles A01-B12.")
@click.option("--sites", default=2, show_default=True, help="Sites per well.")
@click.option("--size", default=512, show_default=True, help="Image side in pixels.")
@click.option("--seed", default=0, show_default=True, help="Random seed.")
@click.option("--truth-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the ground truth goes (default: OUT_ground_truth, beside OUT).")
def make_plate_command(out: Path, experiment: str, plate: str, wells: str, sites: int, size: int, seed: int, truth_dir: Path | None) -> None:
    """Write a synthetic NF-κB translocation plate (DNA, NFkB, Actin; 16-bit TIFF) under OUT.

    The plate lands in OUT/<experiment>/<plate>/ with a DeepProfiler index.csv;
    ground truth (labels, illumination fields, per-cell translocation) goes to
    a separate folder that the pipeline never reads.
    """
    from cell_assets.synthetic import SyntheticPlateSpec, make_plate

    truth_dir = truth_dir or out.with_name(out.name + "_ground_truth")
    spec = SyntheticPlateSpec(experiment=experiment, plate=plate, wells=tuple(parse_wells(wells)), sites=sites, size=size, seed=seed)
    progress = Progress("make-plate", "sites")
    plate_dir, truth = make_plate(spec, out, truth_dir, progress=lambda d, t, w: progress(d, t, w))
    click.echo(f"plate:        {plate_dir}\nground truth: {truth}")


def _instance(dagster_home: str | None):
    import dagster as dg

    home = dagster_home or os.environ.get("DAGSTER_HOME")
    if not home:
        raise click.UsageError("set DAGSTER_HOME (the Dagster instance folder, as for `dagster dev`) or pass --dagster-home")
    home_path = Path(home).resolve()
    home_path.mkdir(parents=True, exist_ok=True)
    if not (home_path / "dagster.yaml").exists():
        (home_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home_path)
    return dg.DagsterInstance.get()


def _raw_root(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A local raw root must exist; an s3:// root is checked when listed."""
    if value is None or value.startswith("s3://"):
        return value
    if not Path(value).is_dir():
        raise click.BadParameter(f"{value} is not a folder (or an s3://bucket/prefix)", ctx=ctx, param=param)
    return value


@main.command("register")
@click.argument("raw_root", callback=_raw_root)
@click.option("--dagster-home", default=None, help="Dagster instance folder (default: $DAGSTER_HOME).")
def register_command(raw_root: str, dagster_home: str | None) -> None:
    """Register every plate under RAW_ROOT/<experiment>/<plate>/ (a folder or s3://bucket/prefix) as a `plates` partition.

    For S3, the endpoint and credentials come from the AWS environment
    (AWS_ENDPOINT_URL for MinIO, AWS_ACCESS_KEY_ID, AWS_PROFILE, …).
    """
    from cell_assets.orchestration import register_plates

    instance = _instance(dagster_home)
    new, existing, problems = register_plates(instance, raw_root)
    for plate in new:
        click.echo(f"added     {plate.plate}  (experiment {plate.experiment})")
    for plate in existing:
        click.echo(f"known     {plate.plate}  (experiment {plate.experiment})")
    for problem in problems:
        click.echo(f"skipped   {problem}", err=True)
    click.echo(f"{len(new)} added, {len(existing)} already registered, {len(problems)} skipped")


@main.command("materialize")
@click.argument("plate")
@click.option("--raw-root", required=True, callback=_raw_root, help="Raw upload root: a folder or s3://bucket/prefix.")
@click.option("--store-root", required=True, help="Artifact store root: a folder or s3://bucket/prefix.")
@click.option("--wells", default=None, help="Wells to run (default: every well in index.csv).")
@click.option("--stages", default=None, help="Comma-separated assets (default: all, in order).")
@click.option("--dagster-home", default=None, help="Dagster instance folder (default: $DAGSTER_HOME).")
def materialize_command(plate: str, raw_root: str, store_root: str, wells: str | None, stages: str | None, dagster_home: str | None) -> None:
    """Materialize a registered plate stage by stage (one Dagster run per partition)."""
    from cell_assets.orchestration import materialize_plate, register_plates
    from cell_assets.resources import RawPlatesResource
    from cell_assets.storage.io_manager import ArtifactIOManager

    instance = _instance(dagster_home)
    register_plates(instance, raw_root)
    raw = RawPlatesResource(root=raw_root).locate(plate)
    chosen = parse_wells(wells) if wells else raw.read_index().wells
    resources = {"raw_plates": RawPlatesResource(root=raw_root), "artifact_io_manager": ArtifactIOManager(root=store_root)}
    reports = materialize_plate(instance, raw, chosen, resources, stages=stages.split(",") if stages else None,
                                progress=lambda a, d, t, k, s: click.echo(f"  [{a}] {d}/{t} {k}  {s:.1f} s"))
    for report in reports:
        click.echo(f"{report.asset:<24} {report.partitions:>3} partitions  {report.wall_seconds:7.1f} s")


@main.command("demo")
@click.option("--out", default="demo", show_default=True, type=click.Path(file_okay=False, path_type=Path), help="Folder for everything the demo makes.")
@click.option("--wells", default="A01-A12", show_default=True, help="Wells of the demo plate.")
@click.option("--sites", default=2, show_default=True, help="Sites per well.")
@click.option("--size", default=512, show_default=True, help="Image side in pixels.")
def demo_command(out: Path, wells: str, sites: int, size: int) -> None:
    """Generate a synthetic plate, run the whole pipeline on it, print what it made and where."""
    from cell_assets.demo import run_demo

    run_demo(out, parse_wells(wells), sites, size)


@main.command("segment")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option("--method", type=click.Choice(["classical", "cellpose"]), default="classical", show_default=True)
@click.option("--nuclei-channel", default="DNA", show_default=True, help="Channel name (file suffix, OME name or index) of the nuclear stain.")
@click.option("--cytoplasm-channel", default=None, help="Channel for cell bodies; omit for nuclei only.")
@click.option("--channel-names", default=None, help="Names of a multichannel TIFF's channels, comma-separated.")
@click.option("--model", default="cyto3", show_default=True, help="Cellpose cell model: name or weights file.")
@click.option("--nuclei-model", default="nuclei", show_default=True, help="Cellpose nucleus model: name or weights file.")
@click.option("--diameter", type=float, default=None, help="Cell diameter, px (Cellpose; default: estimate).")
@click.option("--nucleus-diameter", type=float, default=None, help="Nucleus diameter, px (default: Cellpose estimate / 16 classical).")
@click.option("--flow-threshold", type=float, default=0.4, show_default=True)
@click.option("--cellprob-threshold", type=float, default=0.0, show_default=True)
@click.option("--min-size", type=int, default=15, show_default=True, help="Cellpose: smallest object, px.")
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
def segment_command(inputs: tuple[Path, ...], out: Path, method: str, nuclei_channel: str, cytoplasm_channel: str | None,
                    channel_names: str | None, model: str, nuclei_model: str, diameter: float | None, nucleus_diameter: float | None,
                    flow_threshold: float, cellprob_threshold: float, min_size: int, batch_size: int, device: str) -> None:
    """Segment your own images (TIFF/PNG, one file per channel named <site>_<channel>, or multichannel TIFFs).

    Example: cell-assets segment scans/ --nuclei-channel DNA --cytoplasm-channel Actin --out masks/
    """
    from cell_assets.segment_command import SITES_TABLE, segment_files

    options: dict[str, object] = {"nucleus_diameter": nucleus_diameter, "diameter": diameter}
    if method == "cellpose":
        options |= {"model": model, "nuclei_model": nuclei_model, "flow_threshold": flow_threshold,
                    "cellprob_threshold": cellprob_threshold, "min_size": min_size, "batch_size": batch_size, "device": device}
    rows = segment_files(list(inputs), out, method, nuclei_channel, cytoplasm_channel,
                         channel_names.split(",") if channel_names else None, progress=Progress("segment", "sites"), **options)
    click.echo(f"{sum(int(r['cells']) for r in rows)} cells in {len(rows)} site(s); masks, outlines and locations in {out}, "
               f"per-site summary in {out / SITES_TABLE}")


@main.group("bench")
def bench() -> None:
    """Benchmarks that print ratios against a floor measured in the same run."""


@bench.command("prepare")
@click.option("--wells", default="A01-A08", show_default=True, help="Wells of the benchmark plate.")
@click.option("--sites", default=4, show_default=True, help="Sites per well.")
@click.option("--size", default=1024, show_default=True, help="Image side in pixels.")
@click.option("--workdir", default=None, type=click.Path(file_okay=False, path_type=Path), help="Scratch folder (default: a temp dir).")
@click.option("--repeats", default=3, show_default=True, help="Repeats; the best time of each side is used.")
def bench_prepare(wells: str, sites: int, size: int, workdir: Path | None, repeats: int) -> None:
    """Illumination + compression against the floor of reading every TIFF and writing every PNG."""
    from cell_assets.benchmarks import bench_prepare as run

    run(parse_wells(wells), sites, size, workdir, repeats)


@bench.command("segment")
@click.option("--wells", default="A01-A04", show_default=True, help="Wells of the benchmark plate.")
@click.option("--sites", default=4, show_default=True, help="Sites per well.")
@click.option("--size", default=1024, show_default=True, help="Image side in pixels.")
@click.option("--workdir", default=None, type=click.Path(file_okay=False, path_type=Path), help="Scratch folder (default: a temp dir).")
@click.option("--repeats", default=3, show_default=True, help="Repeats; the best time of each side is used.")
@click.option("--method", type=click.Choice(["classical", "cellpose"]), default="classical", show_default=True)
@click.option("--model", default=None, help="Cellpose cell model (name or weights file).")
@click.option("--nuclei-model", default=None, help="Cellpose nucleus model (name or weights file).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
def bench_segment_command(wells: str, sites: int, size: int, workdir: Path | None, repeats: int, method: str,
                          model: str | None, nuclei_model: str | None, device: str) -> None:
    """segmentation_masks per site against the segmenter's bare call on the same images."""
    from cell_assets.benchmarks import bench_segment

    options: dict[str, object] = {}
    if method == "cellpose":
        options = {"device": device, "diameter": 36.0, "nucleus_diameter": 16.0}
        options |= {"model": model} if model else {}
        options |= {"nuclei_model": nuclei_model} if nuclei_model else {}
    bench_segment(parse_wells(wells), sites, size, workdir, repeats, method, options)


@bench.command("extract")
@click.option("--wells", default="A01-A04", show_default=True, help="Wells of the benchmark plate.")
@click.option("--sites", default=4, show_default=True, help="Sites per well.")
@click.option("--size", default=1024, show_default=True, help="Image side in pixels.")
@click.option("--image-size", default=128, show_default=True, help="Crop side in pixels.")
@click.option("--workdir", default=None, type=click.Path(file_okay=False, path_type=Path), help="Scratch folder (default: a temp dir).")
@click.option("--repeats", default=3, show_default=True, help="Repeats; the best time of each side is used.")
def bench_extract_command(wells: str, sites: int, size: int, image_size: int, workdir: Path | None, repeats: int) -> None:
    """single_cell_dataset (cells/s, bytes) against an h5py write of the same float16 cells."""
    from cell_assets.benchmarks import bench_extract

    bench_extract(parse_wells(wells), sites, size, workdir, repeats, image_size)


@bench.command("features")
@click.option("--cells", default=2000, show_default=True, help="Number of cells.")
@click.option("--image-size", default=128, show_default=True, help="Crop side in pixels.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Also time this device when it is a GPU.")
def bench_features_command(cells: int, image_size: int, device: str) -> None:
    """Torch feature extractor (CPU, and GPU when present) against regionprops_table cell by cell."""
    from cell_assets.benchmarks import bench_features

    bench_features(cells, image_size, device)


@bench.command("store")
@click.option("--size", default=1024, show_default=True, help="Image side in pixels.")
@click.option("--sites", default=4, show_default=True, help="Sites of the well.")
@click.option("--endpoint-url", default=None, help="An S3 server to use (default: start moto's on 127.0.0.1).")
@click.option("--workdir", default=None, type=click.Path(file_okay=False, path_type=Path), help="Scratch folder (default: a temp dir).")
@click.option("--repeats", default=3, show_default=True, help="Repeats; the best time of each side is used.")
def bench_store_command(size: int, sites: int, endpoint_url: str | None, workdir: Path | None, repeats: int) -> None:
    """Upload/download MB/s of one well's artifacts: local store, S3 store, plain boto3."""
    from cell_assets.benchmarks import bench_store

    bench_store(["A01", "A02"], sites, size, workdir, repeats, endpoint_url)


def run() -> None:
    """Entry point that turns input errors into one clear line and exit status 2."""
    try:
        main(standalone_mode=False)
    except (PlateInputError, ArtifactError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
