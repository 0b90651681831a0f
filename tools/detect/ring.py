"""Per-point arrays that only need their most recent columns: a ring buffer over time.

Scoring 10,000 series x 720 points touches hundreds of megabytes; keeping only the window
each quantity is read back over (a week of residual history, a day of profiles) keeps the
detector's memory, and the time spent first touching it, proportional to what it uses.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class Ring:
    """Columns [t - width, t) of a (lead, n, T) float array, NaN where never written."""

    def __init__(self, lead: int, n: int, width: int) -> None:
        self.width = max(1, width)
        self.data = np.full((lead, n, self.width), np.nan)

    def _cols(self, lo: int, hi: int) -> npt.NDArray[np.int64]:
        if hi - lo > self.width:
            raise ValueError(f"window of {hi - lo} columns exceeds the ring of {self.width}")
        return np.arange(lo, hi) % self.width

    def write(self, lo: int, hi: int, block: FloatArray) -> None:
        self.data[:, :, self._cols(lo, hi)] = block

    def write_lead(self, lead: int, lo: int, hi: int, block: FloatArray) -> None:
        """Write (n, hi - lo) values into one lead."""
        self.data[lead][:, self._cols(lo, hi)] = block

    def read(self, lo: int, hi: int) -> FloatArray:
        """(lead, n, hi - lo) copy of columns [lo, hi)."""
        return np.asarray(self.data[:, :, self._cols(lo, hi)])

    def read_rows(self, lead: int, rows: npt.NDArray[np.int64], lo: int, hi: int) -> FloatArray:
        """(len(rows), hi - lo) copy of one lead's rows over columns [lo, hi)."""
        return np.asarray(self.data[lead][np.ix_(rows, self._cols(lo, hi))])

    def at(self, rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64]) -> FloatArray:
        """(lead, k) values at the points (rows[i], cols[i])."""
        return np.asarray(self.data[:, rows, cols % self.width])
