"""Group commit: concurrent HTTP requests share one transaction, each still durable on 2xx.

A request parses its events, hands them to the single writer thread and waits for the
commit that contains them. Under one sequential client this is a commit per request; under
many concurrent clients (the OpenLineage async transport sends up to 100 at once) one
commit carries everything that queued while the previous one ran, which is where the
throughput comes from. SQLite has one writer anyway; PostgreSQL gains fewer round trips.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

from tools.ingest.openlineage import write_events_detail
from tools.ingest.openlineage_parse import ParsedEvent
from tools.store.db import Store
from tools.store.models import now_micros

MAX_EVENTS_PER_COMMIT = 5000


@dataclass(slots=True)
class _Job:
    events: list[ParsedEvent]
    future: Future[tuple[int, int]] = field(default_factory=Future)


class GroupCommitWriter:
    """One writer thread per store; ``submit`` returns a future of (accepted, duplicates)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, events: list[ParsedEvent]) -> Future[tuple[int, int]]:
        job = _Job(events)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="flowsleuth-group-commit", daemon=True
                )
                self._thread.start()
        self._queue.put(job)
        return job.future

    def close(self, timeout: float = 10.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            size = len(first.events)
            stop = False
            while size < MAX_EVENTS_PER_COMMIT:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                jobs.append(nxt)
                size += len(nxt.events)
            self._commit(jobs)
            if stop:
                return

    def _commit(self, jobs: list[_Job]) -> None:
        try:
            with self.store.write() as conn:
                new = write_events_detail(
                    conn, self.store, [e for j in jobs for e in j.events], now_micros()
                )
        except Exception:
            if len(jobs) == 1:
                jobs[0].future.set_exception(_current_exception())
                return
            # One job broke the shared transaction: retry each alone so only it fails.
            for job in jobs:
                self._commit([job])
            return
        for job in jobs:
            accepted = 0
            for ev in job.events:
                if ev.event_hash in new:
                    new.discard(ev.event_hash)  # an event sent twice counts once
                    accepted += 1
            job.future.set_result((accepted, len(job.events) - accepted))


def _current_exception() -> BaseException:
    import sys

    exc = sys.exc_info()[1]
    assert exc is not None
    return exc
