"""The telemetry contract, summarised for an assistant reading the ``flowsleuth://contract``
resource. Kept in code (not read from the repository's docs at run time) so an installed
server carries it; the fault-kind list comes from :mod:`tools.faults`, the one vocabulary.
"""

from __future__ import annotations

from tools.faults import FAULT_KINDS

_METRICS = (
    ("data.row_count", "1", "", "volume"),
    ("data.freshness.lag", "s", "", "freshness measured by the source itself"),
    ("data.null_fraction", "1", "column", "null spikes"),
    ("data.duplicate_fraction", "1", "column (the key)", "duplicate rates"),
    ("consent.mismatch_fraction", "1", "consent.purpose", "consent flags disagreeing"),
    ("event.loss_fraction", "1", "", "events sent but never landed"),
    ("event.end_to_end.latency", "s", "stage", "event -> CDP -> segment -> activation"),
    ("identity.merge_rate", "1", "", "over-merging shows as a spike"),
    ("identity.fragmentation_ratio", "1", "", "profiles per resolved person"),
    ("identity.orphan_profiles", "1", "", "profiles with no stitched identifier"),
    ("identity.match_confidence", "1", "", "mean match confidence"),
    ("activation.sync.success_ratio", "1", "destination", "reverse-ETL sync health"),
    ("activation.sync.errors", "1", "error.code", "vendor error codes (401, 429, ...)"),
    ("activation.webhook.latency", "ms", "quantile", "webhook latencies"),
    ("activation.audience.size", "1", "", "audience size deltas"),
    ("activation.delivery.variance", "1", "campaign", "delivered vs planned"),
)


def contract_text() -> str:
    metrics = "\n".join(
        f"| `{name}` | {unit} | {attrs} | {question} |" for name, unit, attrs, question in _METRICS
    )
    kinds = ", ".join(f"`{k}`" for k in FAULT_KINDS)
    return f"""# flowsleuth telemetry contract (summary)

## Node ids
Assets follow OpenLineage naming. In tool arguments write them as
`dataset:<namespace>:<name>` or `job:<namespace>:<name>`: the type runs to the first `:`,
the name starts after the last `:`, the namespace is what lies between (it may contain
colons, e.g. `postgres://db:5432`). `list_assets` returns the ids.

## Lineage, runs, schema, quality: OpenLineage RunEvents (POST /api/v1/lineage)
- lineage edges: `inputs[]` -> `job` -> `outputs[]` (what feeds what; blast radius)
- run state START / RUNNING / COMPLETE / FAIL / ABORT, failure reason in the
  `errorMessage` run facet, schedule in `nominalTime` (freshness = lag of the newest
  successful output behind its schedule)
- schema facet (fields added / removed / retyped = schema drift), `outputStatistics`
  row counts (volume), `dataQualityMetrics` null and distinct counts, dbt / Great
  Expectations assertions, `columnLineage`, `ownership`, code changes (`sourceCode`, `sql`)

## Metrics: OTLP (POST /v1/metrics)
A point belongs to an asset through the attributes `openlineage.dataset.namespace` and
`openlineage.dataset.name`.

| metric | unit | extra attributes | question |
| --- | --- | --- | --- |
{metrics}

## Logs and traces: OTLP (POST /v1/logs, /v1/traces)
Linked to assets by the same attributes. One span per pipeline stage, one trace id per
sampled event: the per-event lineage and end-to-end latency. Log bodies and span
attributes are PII-redacted before storage (`<email>`, `<phone>`, `<ip>`, `<card>`,
`<ad_id>`).

## Business context: the catalog
Per asset: kind (source, staging, model, identity, audience, activation, campaign), tier,
owner team, revenue per day, SLOs (`metric`, `objective` such as `<= 2h`, `target`,
`window`). Revenue at risk is counted once per audience -> activation -> campaign funnel.

## Fault kinds
Every anomaly, root cause and playbook uses one of: {kinds}.

## Safety
Risk tiers are decided in code by policy, never by a prompt. Only low-risk actions the
policy allows may be applied without a person; high-impact actions (credentials, pausing
campaigns, long backfills, large revenue at risk) always wait for a human approver.
"""


__all__ = ["contract_text"]
