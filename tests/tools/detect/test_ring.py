"""The ring buffer keeps the latest columns, across the wrap."""

from __future__ import annotations

import numpy as np
import pytest

from tools.detect.ring import Ring


def test_reads_back_what_was_written_across_the_wrap() -> None:
    ring = Ring(2, 3, 5)
    full = np.arange(2 * 3 * 12, dtype=float).reshape(2, 3, 12)
    for lo in range(0, 12, 4):
        ring.write(lo, lo + 4, full[:, :, lo : lo + 4])
    assert np.array_equal(ring.read(7, 12), full[:, :, 7:12])
    picked = ring.read_picked(np.array([1, 0, 1]), 8, 12)
    assert np.array_equal(picked, np.stack([full[1, 0, 8:12], full[0, 1, 8:12],
                                            full[1, 2, 8:12]]))
    assert np.array_equal(ring.at(np.array([0, 2]), np.array([10, 11])),
                          full[:, [0, 2], [10, 11]])
    ring.write_lead(1, 12, 14, np.ones((3, 2)))
    assert np.array_equal(ring.read(12, 14)[1], np.ones((3, 2)))


def test_a_window_wider_than_the_ring_is_refused() -> None:
    with pytest.raises(ValueError, match="exceeds the ring"):
        Ring(1, 1, 4).read(0, 5)
