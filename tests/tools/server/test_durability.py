"""A 2xx means committed: SIGKILL the server mid-stream, every acknowledged event is kept."""

from __future__ import annotations

import threading
import uuid

import httpx
from sqlalchemy import select

from tests.live_server import live_server
from tools.store import open_store
from tools.store.models import Run


def _event(run_id: str, i: int) -> dict[str, object]:
    return {
        "eventType": "COMPLETE",
        "eventTime": f"2026-11-20T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "run": {"runId": run_id},
        "job": {"namespace": "airflow://prod", "name": f"job_{i % 17}"},
        "outputs": [
            {
                "namespace": "snowflake://acme",
                "name": f"t_{i % 23}",
                "outputFacets": {"outputStatistics": {"rowCount": i}},
            }
        ],
        "producer": "https://example.com/durability",
    }


def test_sigkill_mid_stream_loses_no_acknowledged_event(db_url: str) -> None:
    acked: list[str] = []
    errors: list[str] = []
    enough = threading.Event()
    with live_server(db_url) as server:

        def stream() -> None:
            with httpx.Client(base_url=server.url, headers=server.auth, timeout=5) as client:
                for i in range(100_000):
                    run_id = str(uuid.uuid4())
                    try:
                        resp = client.post("/api/v1/lineage", json=_event(run_id, i))
                    except httpx.HTTPError:
                        return  # the server is gone: the stream ends here
                    if resp.status_code == 201:
                        acked.append(run_id)
                    else:
                        errors.append(resp.text)
                    if len(acked) >= 300:
                        enough.set()

        sender = threading.Thread(target=stream)
        sender.start()
        assert enough.wait(60), "the server acknowledged too few events"
        server.kill()  # while the sender is still posting
        sender.join(30)
    assert not errors
    store = open_store(db_url)
    with store.read() as conn:
        stored = set(conn.execute(select(Run.run_uuid)).scalars())
    store.dispose()
    missing = [r for r in acked if r not in stored]
    assert not missing, f"{len(missing)} acknowledged events lost"
    assert len(acked) >= 300
