"""Builders shared by the runbook tests: contexts, store rows, playbooks from YAML text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from sqlalchemy import insert

from tools.runbooks import RemediationContext
from tools.runbooks.models import PlannedAction
from tools.runbooks.planner import plan
from tools.runbooks.policy import PolicyConfig
from tools.runbooks.schema import Playbook
from tools.runbooks.secrets import StaticSecrets
from tools.store import Store, to_micros
from tools.store.models import CatalogEntry, MetricPoint, MetricSeries, Node, Run

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
AUDIENCE = "dataset:postgres://wh:5432:audience_cart"
CAMPAIGN = "dataset:braze://acme:spring_sale"
SOURCE = "dataset:postgres://wh:5432:raw_orders"
JOB = "job:airflow:load_orders"


def make_context(**overrides: Any) -> RemediationContext:
    base: dict[str, Any] = {
        "incident_id": 7,
        "root_cause": JOB,
        "root_cause_kind": "job_failure",
        "confidence": 0.9,
        "symptoms": [
            {"node": SOURCE, "kind": "late_data", "metric": "data.freshness.lag", "onset": T0}
        ],
        "impacted": [SOURCE],
        "at_risk": [],
        "revenue_at_risk_per_day": 0.0,
        "campaigns_affected": 0,
        "owners": ["data-platform"],
        "window": {"start": T0 - timedelta(hours=6), "end": T0},
        "detected_at": T0,
    }
    base.update(overrides)
    return RemediationContext.model_validate(base)


def playbook(text: str) -> Playbook:
    return Playbook.model_validate(yaml.safe_load(text))


def plan_one(text: str, context: RemediationContext, **policy: Any) -> PlannedAction:
    result = plan(context, [playbook(text)], policy=PolicyConfig(**policy))
    assert len(result.actions) == 1, result.skipped
    return result.actions[0]


def secrets_for(url: str, **extra: str) -> StaticSecrets:
    values = {f"{t}_URL": url for t in ("ORCHESTRATOR", "REVERSE_ETL", "CAMPAIGNS", "NOTIFIER")}
    return StaticSecrets(values | {"CAMPAIGNS_TOKEN": "tok-123"} | extra)


def seed_node(store: Store, node: str, **catalog: Any) -> int:
    kind, rest = node.split(":", 1)
    namespace, _, name = rest.rpartition(":")
    at = to_micros(T0)
    with store.write() as conn:
        nid = int(
            conn.execute(
                insert(Node)
                .values(type=kind, namespace=namespace, name=name, first_seen=at, last_seen=at)
                .returning(Node.id)
            ).scalar_one()
        )
        if catalog:
            conn.execute(
                insert(CatalogEntry).values(
                    node_id=nid, slos=[], extra={}, updated_at=at, **catalog
                )
            )
    return nid


def seed_run(store: Store, job_id: int, state: str, at: datetime, uuid: str) -> None:
    with store.write() as conn:
        conn.execute(
            insert(Run).values(
                run_uuid=uuid,
                job_id=job_id,
                state=state,
                started_at=to_micros(at),
                last_event_at=to_micros(at),
            )
        )


def seed_metric(
    store: Store, node_id: int, name: str, points: list[tuple[datetime, float]], **attrs: str
) -> None:
    with store.write() as conn:
        sid = conn.execute(
            insert(MetricSeries)
            .values(
                node_key=node_id,
                node_id=node_id,
                name=name,
                kind="gauge",
                attr_hash=str(sorted(attrs.items())),
                attributes=attrs,
            )
            .returning(MetricSeries.id)
        ).scalar_one()
        conn.execute(
            insert(MetricPoint),
            [{"series_id": sid, "ts": to_micros(t), "value": v} for t, v in points],
        )
