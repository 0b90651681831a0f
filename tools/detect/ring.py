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

    def _spans(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """Columns [lo, hi) as at most two slices of the buffer."""
        if hi - lo > self.width:
            raise ValueError(f"window of {hi - lo} columns exceeds the ring of {self.width}")
        if hi <= lo:
            return []
        a, b = lo % self.width, (hi - 1) % self.width + 1
        return [(a, b)] if a < b else [(a, self.width), (0, b)]

    def write(self, lo: int, hi: int, block: FloatArray) -> None:
        """Write (lead, n, hi - lo) values."""
        done = 0
        for a, b in self._spans(lo, hi):
            self.data[:, :, a:b] = block[..., done : done + b - a]
            done += b - a

    def write_lead(self, lead: int, lo: int, hi: int, block: FloatArray) -> None:
        """Write (n, hi - lo) values into one lead."""
        done = 0
        for a, b in self._spans(lo, hi):
            self.data[lead, :, a:b] = block[:, done : done + b - a]
            done += b - a

    def read(self, lo: int, hi: int) -> FloatArray:
        """(lead, n, hi - lo) values of columns [lo, hi); a view when they do not wrap."""
        spans = self._spans(lo, hi)
        if not spans:
            return self.data[:, :, :0]
        if len(spans) == 1:
            return self.data[:, :, spans[0][0] : spans[0][1]]
        return np.concatenate([self.data[:, :, a:b] for a, b in spans], axis=2)

    def read_picked(self, lead: npt.NDArray[np.int64], lo: int, hi: int) -> FloatArray:
        """(n, hi - lo) values of columns [lo, hi), row i taken from lead[i]."""
        rows = self.data[lead, np.arange(lead.size)]  # (n, width): one lead per row
        spans = self._spans(lo, hi)
        if len(spans) == 1:
            return np.asarray(rows[:, spans[0][0] : spans[0][1]])
        return np.concatenate([rows[:, a:b] for a, b in spans], axis=1)

    def at(self, rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64]) -> FloatArray:
        """(lead, k) values at the points (rows[i], cols[i])."""
        return np.asarray(self.data[:, rows, cols % self.width])
