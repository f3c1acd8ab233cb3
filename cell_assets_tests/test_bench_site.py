"""``cell-assets bench site``: every well stage on one site, each beside its peer or floor."""

from __future__ import annotations

import numpy as np

from cell_assets_tests.helpers import real_data


def test_every_stage_timed_beside_its_peer_on_the_real_site(tmp_path, capsys):
    from cell_assets.cli.benchmarks.site import bench_site
    from cell_assets.imaging.measurements import MeasurementFamily

    results = bench_site(real_data("cellpainting-sites").parent, repeats=1, crop=320)
    assert list(results) == ["pediatric BR00143976", "synthetic 320² (18 cells)"]
    for timings in results.values():
        stages = [t.stage for t in timings]
        assert stages[:5] == [
            "illumination correction",
            "compression",
            "nucleus size (once per well)",
            "segmentation (classical)",
            "h5sc extraction",
        ]
        assert stages[5:] == [f"features: {f.value}" for f in MeasurementFamily]
        for t in timings:
            assert t.seconds > 0 and t.cpu_seconds >= 0 and t.peak_mib > 0
            if t.stage.startswith("nucleus size"):  # the baseline is given it
                assert t.share == 1 / 9 and np.isnan(t.peer_seconds)
            else:
                assert t.share == 1 and np.isfinite(t.peer_seconds) and t.peer_seconds > 0
    printed = capsys.readouterr().out
    assert "a plate of 3456 sites (384 wells × 9)" in printed
    assert "DNA, ER, AGP, Mito, RNA" in printed


def test_concurrent_copies_report_sites_per_hour_per_machine(capsys):
    from cell_assets.cli.benchmarks.site import bench_site_concurrent

    results = bench_site_concurrent(None, copies=2, repeats=1, crop=160)
    [(name, rates)] = results.items()
    assert name.startswith("synthetic 160²")
    assert set(rates) == {1, 2} and all(rate > 0 for rate in rates.values())
    printed = capsys.readouterr().out
    assert "scaling 1 → 2 copies" in printed and "sites/h per machine" in printed


def test_cp_measure_runs_with_its_numba_accelerator_and_is_left_as_it_was():
    import cp_measure

    from cell_assets.cli.benchmarks.features import cp_measure_family, synthetic_sites

    [(images, compartments)] = synthetic_sites(128, 1)
    cp_measure_family("intensity", "numba")(images, compartments)  # numba's own kernels
    assert cp_measure._ACCELERATOR is None
