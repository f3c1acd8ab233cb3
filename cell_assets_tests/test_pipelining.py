import sys
import threading
import time

import pandas as pd
import pytest

from cell_assets.formats.compressed_set import read_site_table
from cell_assets.pipelining import WriteBehind, read_ahead


def test_read_ahead_keeps_order_and_bounds_the_work_in_flight():
    running, most = 0, 0
    lock = threading.Lock()

    def slow_square(x):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.002 * (7 - x % 7))  # later items often finish first
        with lock:
            running -= 1
        return x * x

    assert list(read_ahead(slow_square, range(40), workers=3, ahead=3)) == [
        x * x for x in range(40)
    ]
    assert most <= 3


def test_read_ahead_raises_the_first_failure_in_item_order():
    def fail_on_five(x):
        if x == 5:
            raise KeyError(x)
        return x

    seen = []
    with pytest.raises(KeyError):
        for value in read_ahead(fail_on_five, range(10), workers=2, ahead=2):
            seen.append(value)
    assert seen == [0, 1, 2, 3, 4]


def test_write_behind_waits_for_every_write_and_reports_failures(tmp_path):
    with WriteBehind() as writes:
        for i in range(5):
            writes.submit((tmp_path / f"{i}.txt").write_text, str(i))
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{i}.txt" for i in range(5)]
    with pytest.raises(FileNotFoundError), WriteBehind() as writes:
        writes.submit((tmp_path / "missing" / "x.txt").write_text, "x")


def test_site_lookups_from_many_threads_never_fail(tmp_path):
    """single_cell_dataset once failed with a bare ``KeyError: 2``: ``DataFrame.loc`` on a
    freshly built index, from two crop threads at once. Site rows are now plain dicts."""
    index = tmp_path / "index.csv"
    pd.DataFrame(
        {
            "Metadata_Plate": "P",
            "Metadata_Well": "A01",
            "Metadata_Site": range(1, 9),
            "DNA": [f"images/s{i}.png" for i in range(1, 9)],
        }
    ).to_csv(index, index=False)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # make threads interleave as often as possible
    try:
        for _ in range(200):
            sites = read_site_table(index)
            found = list(
                read_ahead(lambda site, table=sites: table[site]["DNA"], sites, workers=4, ahead=8)
            )
            assert found == [f"images/s{i}.png" for i in range(1, 9)]
    finally:
        sys.setswitchinterval(switch)
