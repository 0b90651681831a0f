"""The store's schema: typed SQLAlchemy 2 models.

Times are stored as integer microseconds since the Unix epoch (UTC) in every table.
That keeps SQLite and PostgreSQL identical, makes ordering and range scans cheap, and
lets bulk ingestion write plain integers without per-row datetime conversion.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def to_micros(value: datetime) -> int:
    """Aware (or naive, taken as UTC) datetime -> integer epoch microseconds."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    """Integer epoch microseconds -> aware UTC datetime."""
    return datetime.fromtimestamp(value / 1_000_000, tz=UTC)


Micros = BigInteger
# Python None is stored as SQL NULL (not JSON 'null'), so IS NULL filters mean "absent".
NullableJSON = JSON(none_as_null=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Node(Base):
    """A dataset or a job, named as OpenLineage names it (namespace + name)."""

    __tablename__ = "nodes"
    __table_args__ = (UniqueConstraint("type", "namespace", "name", name="uq_nodes_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(16))  # dataset | job
    namespace: Mapped[str] = mapped_column(String(512))
    name: Mapped[str] = mapped_column(String(1024))
    first_seen: Mapped[int] = mapped_column(Micros)
    last_seen: Mapped[int] = mapped_column(Micros)
    # Latest dataset/job facets as sent (ownership, documentation, sql, sourceCode, ...).
    facets: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON, nullable=True)


class Edge(Base):
    """A lineage edge: dataset -> job (input) or job -> dataset (output)."""

    __tablename__ = "edges"
    __table_args__ = (
        UniqueConstraint("src_id", "dst_id", name="uq_edges_pair"),
        Index("ix_edges_dst", "dst_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    src_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    dst_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    source: Mapped[str] = mapped_column(String(32))  # openlineage | dbt
    first_seen: Mapped[int] = mapped_column(Micros)
    last_seen: Mapped[int] = mapped_column(Micros)


class ColumnLineage(Base):
    """One source column feeding one output column (from the columnLineage facet or dbt)."""

    __tablename__ = "column_lineage"
    __table_args__ = (
        UniqueConstraint(
            "dst_node_id", "dst_column", "src_node_id", "src_column", name="uq_column_lineage_key"
        ),
        Index("ix_column_lineage_src", "src_node_id", "src_column"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dst_node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    dst_column: Mapped[str] = mapped_column(String(512))
    src_node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    src_column: Mapped[str] = mapped_column(String(512))
    transformation: Mapped[str | None] = mapped_column(String(64), nullable=True)
    first_seen: Mapped[int] = mapped_column(Micros)
    last_seen: Mapped[int] = mapped_column(Micros)


class LineageEvent(Base):
    """Every accepted OpenLineage event, raw, so unknown facets are never lost."""

    __tablename__ = "lineage_events"
    __table_args__ = (Index("ix_lineage_events_run", "run_uuid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # run | dataset | job
    event_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    event_time: Mapped[int] = mapped_column(Micros)
    run_uuid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id"), nullable=True)
    received_at: Mapped[int] = mapped_column(Micros)
    payload: Mapped[str] = mapped_column(Text)


class Run(Base):
    """One run of a job, folded from all of its events."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_job_time", "job_id", "last_event_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_uuid: Mapped[str] = mapped_column(String(64), unique=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    state: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[int | None] = mapped_column(Micros, nullable=True)
    ended_at: Mapped[int | None] = mapped_column(Micros, nullable=True)
    last_event_at: Mapped[int] = mapped_column(Micros)
    nominal_start: Mapped[int | None] = mapped_column(Micros, nullable=True)
    nominal_end: Mapped[int | None] = mapped_column(Micros, nullable=True)
    parent_run_uuid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    parent_job: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    stack_trace: Mapped[str | None] = mapped_column(Text, nullable=True)
    facets: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON, nullable=True)


class RunStateChange(Base):
    __tablename__ = "run_state_changes"
    __table_args__ = (Index("ix_run_state_changes_run", "run_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    state: Mapped[str] = mapped_column(String(16))
    at: Mapped[int] = mapped_column(Micros)


class DatasetVersion(Base):
    """What one run (or a profile, or a dbt result) saw of a dataset: schema, volume, quality."""

    __tablename__ = "dataset_versions"
    __table_args__ = (Index("ix_dataset_versions_node_time", "node_id", "observed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), nullable=True)
    role: Mapped[str] = mapped_column(String(16))  # input | output | dataset | profile | dbt
    observed_at: Mapped[int] = mapped_column(Micros)
    schema_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    schema_fields: Mapped[list[Any] | None] = mapped_column(NullableJSON, nullable=True)
    row_count: Mapped[float | None] = mapped_column(Float, nullable=True)
    byte_count: Mapped[float | None] = mapped_column(Float, nullable=True)
    column_metrics: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON, nullable=True)
    assertions: Mapped[list[Any] | None] = mapped_column(NullableJSON, nullable=True)


class MetricSeries(Base):
    """One metric name + attribute set for one asset (or for no asset)."""

    __tablename__ = "metric_series"
    __table_args__ = (
        UniqueConstraint("node_key", "name", "attr_hash", name="uq_metric_series_key"),
        Index("ix_metric_series_node_name", "node_id", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # node_key is node_id or 0: NULLs are distinct in unique constraints, 0 is not.
    node_key: Mapped[int] = mapped_column(Integer)
    node_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id"), nullable=True)
    name: Mapped[str] = mapped_column(String(256))
    unit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # gauge | sum | histogram | summary | profile
    attr_hash: Mapped[str] = mapped_column(String(64))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)


class MetricPoint(Base):
    __tablename__ = "metric_points"

    series_id: Mapped[int] = mapped_column(ForeignKey("metric_series.id"), primary_key=True)
    ts: Mapped[int] = mapped_column(Micros, primary_key=True)
    value: Mapped[float] = mapped_column(Float)


class LogRecord(Base):
    __tablename__ = "log_records"
    __table_args__ = (
        Index("ix_log_records_node_time", "node_id", "ts"),
        Index("ix_log_records_trace", "trace_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_hash: Mapped[str] = mapped_column(String(64), unique=True)
    node_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id"), nullable=True)
    ts: Mapped[int] = mapped_column(Micros)
    severity_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    severity_text: Mapped[str | None] = mapped_column(String(32), nullable=True)
    body: Mapped[str] = mapped_column(Text)  # redacted
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)  # redacted
    trace_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    span_id: Mapped[str | None] = mapped_column(String(16), nullable=True)


class Span(Base):
    __tablename__ = "spans"
    __table_args__ = (
        UniqueConstraint("trace_id", "span_id", name="uq_spans_ids"),
        Index("ix_spans_node_time", "node_id", "start_ts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trace_id: Mapped[str] = mapped_column(String(32))
    span_id: Mapped[str] = mapped_column(String(16))
    parent_span_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    name: Mapped[str] = mapped_column(String(512))
    node_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id"), nullable=True)
    start_ts: Mapped[int] = mapped_column(Micros)
    end_ts: Mapped[int] = mapped_column(Micros)
    status_code: Mapped[int] = mapped_column(Integer)
    status_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)  # redacted


class CatalogEntry(Base):
    """Business context OpenLineage cannot carry: kind, tier, owner, revenue, SLOs."""

    __tablename__ = "catalog_entries"

    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), primary_key=True)
    kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    tier: Mapped[int | None] = mapped_column(Integer, nullable=True)
    owner: Mapped[str | None] = mapped_column(String(256), nullable=True)
    revenue_per_day: Mapped[float | None] = mapped_column(Float, nullable=True)
    slos: Mapped[list[Any]] = mapped_column(JSON)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[int] = mapped_column(Micros)


class DeadLetter(Base):
    """Input that could not be accepted, kept whole with the reason, for inspection and replay."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_pending", "replayed_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))  # openlineage | otlp.metrics | ...
    origin: Mapped[str | None] = mapped_column(String(1024), nullable=True)  # file or route
    received_at: Mapped[int] = mapped_column(Micros)
    reason: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(String(128), nullable=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    payload_size: Mapped[int] = mapped_column(BigInteger)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    replayed_at: Mapped[int | None] = mapped_column(Micros, nullable=True)
    replay_result: Mapped[str | None] = mapped_column(Text, nullable=True)


def now_micros() -> int:
    return to_micros(datetime.now(UTC))


class AnomalyRow(Base):
    """One ongoing problem on one series of one node; updated while open, then resolved."""

    __tablename__ = "anomalies"
    __table_args__ = (
        Index("ix_anomalies_key_status", "dedup_key", "status"),
        Index("ix_anomalies_status_node", "status", "node_id"),
        Index("ix_anomalies_onset", "onset_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(64))
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    kind: Mapped[str] = mapped_column(String(32))
    metric: Mapped[str | None] = mapped_column(String(256), nullable=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # open | resolved
    onset_at: Mapped[int] = mapped_column(Micros)
    detected_at: Mapped[int] = mapped_column(Micros)
    updated_at: Mapped[int] = mapped_column(Micros)
    resolved_at: Mapped[int | None] = mapped_column(Micros, nullable=True)
    observed: Mapped[float | None] = mapped_column(Float, nullable=True)
    expected: Mapped[float | None] = mapped_column(Float, nullable=True)
    lower: Mapped[float | None] = mapped_column(Float, nullable=True)
    upper: Mapped[float | None] = mapped_column(Float, nullable=True)
    score: Mapped[float] = mapped_column(Float)
    severity: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)


class IncidentRow(Base):
    """Anomalies connected through lineage and close in time: one problem, many symptoms."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_status_opened", "status", "opened_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # open | resolved
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[int] = mapped_column(Micros)
    updated_at: Mapped[int] = mapped_column(Micros)
    resolved_at: Mapped[int | None] = mapped_column(Micros, nullable=True)
    root_causes: Mapped[list[Any]] = mapped_column(JSON)
    impacted: Mapped[list[Any]] = mapped_column(JSON)
    at_risk: Mapped[list[Any]] = mapped_column(JSON)
    revenue_at_risk_per_day: Mapped[float] = mapped_column(Float)
    report: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON, nullable=True)


class IncidentAnomaly(Base):
    __tablename__ = "incident_anomalies"
    __table_args__ = (Index("ix_incident_anomalies_anomaly", "anomaly_id"),)

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    anomaly_id: Mapped[int] = mapped_column(ForeignKey("anomalies.id"), primary_key=True)
