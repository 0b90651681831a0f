"""dbt artifacts (manifest.json, run_results.json) -> OpenLineage events -> the store.

The artifacts are translated into the RunEvents the official OpenLineage dbt integration
(``dbt-ol``) would have sent, then written by the OpenLineage path, so a dbt run lands in
the store exactly as if dbt-ol had posted it: one code path for nodes, edges, runs and
dataset versions. Where dbt-ol's choices are kept (they decide which lineage a user sees):

* dataset ``<namespace>:<database>.<schema>.<alias or identifier>``; the namespace needs
  the warehouse account or host, which only profiles.yml knows, so it is a parameter and
  defaults to the adapter type (``bigquery`` is exactly what dbt-ol writes);
* job ``<job_namespace>:<database>.<schema>.<package>.<name>``, plus ``.build.run`` /
  ``.snapshot`` / ``.build.snapshot`` / ``.test`` / ``.build.test`` as dbt-ol names them;
* models and snapshots that ran (not skipped) get START + COMPLETE/FAIL; their inputs are
  the models, snapshots and sources they depend on (seeds are not inputs, as in dbt-ol);
* tests add no lineage: the results of the tests on one dataset become one TEST job run
  whose only input carries them as the ``dataQualityAssertions`` input facet.

Deliberate differences: ephemeral models are inlined CTEs, not tables, so lineage passes
through them; run ids are uuid5(invocation id, node) instead of random, so ingesting the
same artifacts twice stores nothing new; a view's "rows affected" is not a row count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tools.ingest.dbt_translate import SOURCE, dbt_to_openlineage
from tools.ingest.deadletters import record_dead_letter
from tools.ingest.openlineage import RawItem, ingest_items
from tools.ingest.result import IngestResult, InputError
from tools.store.db import Store
from tools.store.models import now_micros


def _read(path: Path, artifact: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}", artifact) from None


def _decode(data: bytes, artifact: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc}", artifact) from None


def ingest_dbt(
    store: Store,
    manifest_path: Path,
    run_results_path: Path | None = None,
    *,
    namespace: str | None = None,
    job_namespace: str = "dbt",
    now_us: int | None = None,
    origin: str | None = None,
) -> IngestResult:
    """Ingest one dbt invocation's artifacts (run_results optional) into the store.

    Artifacts that are not dbt's, or are broken, raise InputError after the offending file
    is kept in the dead-letter table (source ``dbt``); nothing of them is written.
    """
    now = now_us if now_us is not None else now_micros()
    manifest_raw = _read(Path(manifest_path), "manifest")
    results_raw = _read(Path(run_results_path), "run_results") if run_results_path else None
    try:
        manifest = _decode(manifest_raw, "manifest")
        run_results = _decode(results_raw, "run_results") if results_raw is not None else None
        events = dbt_to_openlineage(
            manifest, run_results, namespace=namespace, job_namespace=job_namespace, now_us=now
        )
    except InputError as exc:
        blame_results = results_raw is not None and (exc.field or "").startswith("run_results")
        blamed = Path(run_results_path) if blame_results and run_results_path else manifest_path
        dl_id = record_dead_letter(
            store,
            source=SOURCE,
            reason=str(exc),
            payload=results_raw if blame_results and results_raw is not None else manifest_raw,
            origin=origin or str(blamed),
            content_type="application/json",
        )
        raise InputError(f"{exc.reason} (kept as dead letter {dl_id})", exc.field) from None
    items = [RawItem(ev, orjson.dumps(ev)) for ev in events]
    return ingest_items(store, items, origin=origin or str(manifest_path), now_us=now)


__all__ = ["dbt_to_openlineage", "ingest_dbt"]
