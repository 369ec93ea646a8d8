"""The disclosure rules on hand-made counts: rounding up to the grid and merging adjacent intervals."""

from __future__ import annotations

import numpy as np
import pytest

from blincompass.federate.summary import coarsen, grid_text, grid_times
from blincompass.protocol import load_protocol

P = load_protocol()


def _with(**fed):
    return P.model_copy(update={"federation": P.federation.model_copy(update=fed)})


def test_times_are_rounded_up_to_the_grid() -> None:
    ady = np.array([0.0, 1.0, 30.0, 31.0, 61.0, 30.4375 * 2])
    # months of 30.4375 days: 61 days is just over two months; 60.875 days is exactly two
    assert grid_times(ady, _with(time_grid=1.0, time_unit="months")).tolist() == [0, 1, 1, 2, 3, 2]
    assert grid_times(ady, _with(time_grid=0.5, time_unit="months")).tolist() == [0, 0.5, 1, 1.5, 2.5, 2]
    weeks = grid_times(ady, _with(time_grid=7, time_unit="days"))
    assert weeks.tolist() == [d / 30.4375 for d in (0, 7, 35, 35, 63, 63)]
    one_day = grid_times(np.array([0.0, 1.0, 397.0]), _with(time_grid=1, time_unit="days"))
    assert one_day.tolist() == [0.0, 1 / 30.4375, 397 / 30.4375]  # ADTTE AVAL exactly
    assert grid_text(1.0, "months") == "1 month" and grid_text(7, "days") == "7 days"


@pytest.mark.parametrize(
    ("counts", "threshold", "times", "released"),
    [
        # nothing to merge
        ([[3, 0], [0, 4], [5, 3]], 3, [1, 2, 3], [[3, 0], [0, 4], [5, 3]]),
        # the first three rows close a block at 3; the last row alone cannot and is folded into it
        ([[1, 0], [1, 1], [1, 2], [0, 1]], 2, [4], [[3, 4]]),
        # blocks close as early as possible; the remainder [2, 1] needs the block before it
        ([[2, 0], [0, 2], [1, 0], [1, 1]], 2, [1, 4], [[2, 0], [2, 3]]),
        # threshold 1: every non-empty row is released as it is
        ([[1, 0], [0, 1], [1, 1]], 1, [1, 2, 3], [[1, 0], [0, 1], [1, 1]]),
    ],
)
def test_adjacent_intervals_merge_until_every_count_reaches_the_threshold(counts, threshold, times,
                                                                          released) -> None:
    t, c = coarsen(np.arange(1.0, len(counts) + 1), np.array(counts, dtype=np.int64), threshold)
    assert t.tolist() == times and c.tolist() == released
    assert c.sum(axis=0).tolist() == np.array(counts).sum(axis=0).tolist()


def test_a_total_below_the_threshold_cannot_be_released() -> None:
    assert coarsen(np.array([1.0, 2.0]), np.array([[1, 2], [1, 2]]), 3) is None  # 2 events in all
    assert coarsen(np.array([1.0]), np.array([[0, 2]]), 3) is None
