"""Synthetic but realistic OpenLineage events for the ingestion benchmarks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any


def make_events(n: int, jobs: int = 200, seed: int = 1) -> list[dict[str, Any]]:
    """START + COMPLETE pairs over ``jobs`` jobs, with schema, stats and quality facets."""
    base = datetime(2026, 11, 1, tzinfo=UTC)
    rng = uuid.UUID(int=seed)
    out: list[dict[str, Any]] = []
    for i in range(n // 2):
        run_id = str(uuid.uuid5(rng, str(i)))
        j = i % jobs
        t0 = base + timedelta(minutes=i)
        job = {"namespace": "airflow://prod", "name": f"dag_{j // 10}.task_{j}"}
        inputs = [{"namespace": "snowflake://acme", "name": f"raw.table_{j}"}]
        fields = [{"name": f"col_{k}", "type": "VARCHAR"} for k in range(8)]
        outputs = [
            {
                "namespace": "snowflake://acme",
                "name": f"analytics.model_{j}",
                "facets": {
                    "schema": {"_producer": "bench", "_schemaURL": "bench", "fields": fields},
                    "dataQualityMetrics": {
                        "_producer": "bench",
                        "_schemaURL": "bench",
                        "rowCount": 1000 + i % 97,
                        "columnMetrics": {"col_0": {"nullCount": i % 5, "distinctCount": 990}},
                    },
                },
                "outputFacets": {
                    "outputStatistics": {
                        "_producer": "bench",
                        "_schemaURL": "bench",
                        "rowCount": 1000 + i % 97,
                        "size": 65536,
                    }
                },
            }
        ]
        for etype, t in (("START", t0), ("COMPLETE", t0 + timedelta(seconds=42))):
            out.append(
                {
                    "eventType": etype,
                    "eventTime": t.isoformat(),
                    "run": {
                        "runId": run_id,
                        "facets": {
                            "nominalTime": {
                                "_producer": "bench",
                                "_schemaURL": "bench",
                                "nominalStartTime": t0.isoformat(),
                            }
                        },
                    },
                    "job": job,
                    "inputs": inputs,
                    "outputs": outputs if etype == "COMPLETE" else [],
                    "producer": "https://github.com/flowsleuth/bench",
                    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
                }
            )
    return out
