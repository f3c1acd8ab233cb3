import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cell_assets.cli.main import main, parse_wells

CLI = str(Path(sys.executable).with_name("cell-assets"))


def test_parse_wells():
    assert parse_wells("A01-B02") == ["A01", "A02", "B01", "B02"]
    assert parse_wells("a1, A01,C12") == ["A01", "C12"]


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["make-plate"],
        ["register"],
        ["materialize"],
        ["demo"],
        ["bench"],
        ["bench", "prepare"],
        ["segment"],
        ["bench", "segment"],
        ["bench", "extract"],
        ["bench", "features"],
        ["bench", "gpu"],
        ["bench", "store"],
        ["bench", "dagster"],
        ["backfill"],
        ["export-labels"],
        ["import-labels"],
    ],
)
def test_every_subcommand_explains_itself(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output and len(result.output) > 200


def test_make_plate_register_and_a_clear_error(tmp_path):
    out = tmp_path / "raw"
    done = subprocess.run(
        [
            CLI,
            "make-plate",
            str(out),
            "--plate",
            "CLI1",
            "--wells",
            "A01",
            "--sites",
            "1",
            "--size",
            "128",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "1/1 sites" in done.stdout and (out / "EXP1" / "CLI1" / "index.csv").exists()
    assert (tmp_path / "raw_ground_truth" / "EXP1" / "CLI1" / "cells.csv").exists()
    registered = subprocess.run(
        [CLI, "register", str(out), "--dagster-home", str(tmp_path / "home")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "added     CLI1" in registered.stdout
    bad = subprocess.run(
        [CLI, "make-plate", str(out), "--plate", "a|b"], capture_output=True, text=True
    )
    assert (
        bad.returncode == 2
        and "illegal plate id 'a|b'" in bad.stderr
        and "Traceback" not in bad.stderr
    )


def test_segment_own_images_in_one_line(tmp_path, synthetic_plate):
    import pandas as pd

    images = synthetic_plate[1] / "images"
    out = tmp_path / "masks"
    done = subprocess.run(
        [
            CLI,
            "segment",
            str(images / "A01_s1_DNA.tif"),
            str(images / "A01_s1_Actin.tif"),
            "--cytoplasm-channel",
            "Actin",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "1/1 sites" in done.stdout
    table = pd.read_csv(out / "sites.csv")
    assert table.loc[0, "site"] == "A01_s1" and table.loc[0, "cells"] > 10
    assert (out / "labels" / "A01_s1_cells.tif").exists() and (
        out / "locations" / "A01_s1-Nuclei.csv"
    ).exists()


def test_segment_errors_are_one_clear_line(tmp_path, synthetic_plate):
    images = synthetic_plate[1] / "images"
    bad = subprocess.run(
        [CLI, "segment", str(images), "--cytoplasm-channel", "WGA", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert (
        bad.returncode == 2 and "no channel 'WGA'" in bad.stderr and "Traceback" not in bad.stderr
    )
    weights = tmp_path / "mine.pth"
    weights.write_bytes(b"junk")
    bad = subprocess.run(
        [
            CLI,
            "segment",
            str(images / "A01_s1_DNA.tif"),
            "--method",
            "cellpose",
            "--nuclei-model",
            str(weights),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert (
        bad.returncode == 2
        and "is not a Cellpose 3 model" in bad.stderr
        and "Traceback" not in bad.stderr
    )


@pytest.mark.parametrize(
    "command",
    [
        ["bench", "prepare", "--wells", "A01", "--sites", "2", "--size", "128"],
        ["bench", "segment", "--wells", "A01", "--sites", "1", "--size", "128"],
        ["bench", "extract", "--wells", "A01", "--sites", "1", "--size", "192"],
    ],
    ids=lambda command: command[1],
)
def test_benchmarks_run_on_a_tiny_plate(command, tmp_path):
    """The benchmarks drive the assets directly: they must keep working as the assets change."""
    done = subprocess.run(
        [CLI, *command, "--repeats", "1", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "×" in done.stdout or "x" in done.stdout


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ("ops: {cell_features: {config: {families: [nonsense]}}}", "cell_features.families.0"),
        ("ops: {well_profiles: {config: {min_cells: 3}}}", "well_profiles.min_cells: not a"),
        ("ops: {cell_featurez: {config: {}}}", "cell_featurez: not an asset of the plate chain"),
    ],
)
def test_materialize_refuses_a_later_stages_bad_config_before_queueing(
    config, problem, tmp_path, synthetic_plate
):
    """The chain's later stages are queued by the daemon: their config is checked up front."""
    (tmp_path / "config.yaml").write_text(config + "\n")
    home = tmp_path / "home"
    result = CliRunner().invoke(
        main,
        ["materialize", "TEST-P1", "--raw-root", str(synthetic_plate[0]),
         "--store-root", str(tmp_path / "store"), "--config", str(tmp_path / "config.yaml"),
         "--dagster-home", str(home)],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "error: configuration refused: " in result.output and problem in result.output
    assert not (home / "daemon.log").exists()  # refused before a daemon was started


def test_a_backfill_refuses_a_plate_whose_settings_yaml_was_edited_out_of_range(plate_copy):
    from cell_assets.cli.plates import backfill_wells
    from cell_assets.errors import PlateInputError
    from cell_assets.storage import open_raw_plates
    from cell_assets_tests.helpers import PLATE, WELLS

    raw_root, plate_dir = plate_copy
    opened = open_raw_plates(str(raw_root))
    (folder,) = opened.plate_folders()[0]
    assert sorted(backfill_wells(opened, folder)) == sorted(WELLS)
    # Edited after the sensor accepted the upload: refused before any run is created.
    (plate_dir / "settings.yaml").write_text(
        "ops:\n  compressed_images:\n    config:\n      png_compress_level: 12\n"
    )
    with pytest.raises(PlateInputError, match="png_compress_level") as refused:
        backfill_wells(opened, folder)
    assert str(refused.value).startswith(f"plate {PLATE}") and "settings.yaml" in str(refused.value)
