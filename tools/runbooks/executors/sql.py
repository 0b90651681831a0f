"""SQL executor: repoint an activation's view at a snapshot, rehydrate or quarantine rows.

Works on SQLite and PostgreSQL through SQLAlchemy. Every change runs in one transaction
and keeps what rollback needs: the prior view definition, or the prior rows copied into a
scratch table named after the proposal (``<table>__fsbk_<key>`` / ``__fsq_<key>``).
Identifiers come from playbook params, so they are checked against a strict pattern and
quoted by the dialect; values are always bound, never spliced into SQL text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from tools.runbooks.models import (
    ActionError,
    ActionOutcome,
    CheckResult,
    DryRun,
    PlannedAction,
    VerificationResult,
)
from tools.runbooks.secrets import Secrets, target_secret
from tools.timeutil import parse_timestamp

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$")
_KEY = re.compile(r"[^a-z0-9]+")


class Relation:
    """A table or view name (optionally schema-qualified), validated and quotable."""

    def __init__(self, name: Any) -> None:
        if not isinstance(name, str) or not _IDENT.match(name):
            raise ActionError(f"{name!r} is not a plain table or view name ([schema.]name)")
        schema, _, bare = name.rpartition(".")
        self.schema = schema or None
        self.name = bare
        self.text = name

    def quoted(self, conn: Connection) -> str:
        q = conn.dialect.identifier_preparer.quote
        return f"{q(self.schema)}.{q(self.name)}" if self.schema else q(self.name)

    def sibling(self, suffix: str) -> Relation:
        """A scratch table next to this one; PostgreSQL cuts names at 63 characters."""
        base = self.name[: 63 - len(suffix)]
        return Relation(f"{self.schema}.{base}{suffix}" if self.schema else f"{base}{suffix}")


class SqlExecutor:
    name = "sql"

    def __init__(
        self, engines: Mapping[str, Engine] | None = None, *, secrets: Secrets | None = None
    ) -> None:
        self._engines: dict[str, Engine] = dict(engines or {})
        self._owned: list[Engine] = []  # built here from secrets, so disposed here
        self._secrets = secrets

    def close(self) -> None:
        for engine in self._owned:
            engine.dispose()

    def engine(self, target: str) -> Engine:
        found = self._engines.get(target)
        if found is not None:
            return found
        url = self._secrets.get(target_secret(target, "DB_URL")) if self._secrets else None
        if not url:
            raise ActionError(
                f"sql target {target!r} is not configured: set "
                f"FLOWSLEUTH_SECRET_{target_secret(target, 'DB_URL')}"
            )
        if url.startswith("postgresql://"):
            url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        engine = self._engines[target] = create_engine(url)
        self._owned.append(engine)
        return engine

    def _engine_for(self, action: PlannedAction) -> Engine:
        return self.engine(str(action.params.get("target") or "warehouse"))

    # -- reads ---------------------------------------------------------------------------

    def check(self, action: PlannedAction, check: str, params: dict[str, Any]) -> CheckResult:
        merged = action.params | params
        try:
            if check == "target_configured":
                self._engine_for(action)
                return CheckResult(check=check, ok=True, detail="sql target configured")
            with self._engine_for(action).connect() as conn:
                if check == "table_exists":
                    rel = Relation(merged.get("table"))
                    ok = _has_table(conn, rel)
                    return CheckResult(check=check, ok=ok, detail=f"table {rel.text} exists: {ok}")
                if check == "view_exists":
                    rel = Relation(merged.get("view"))
                    ok = view_definition(conn, rel) is not None
                    return CheckResult(check=check, ok=ok, detail=f"view {rel.text} exists: {ok}")
                if check == "snapshot_exists":
                    snap = resolve_snapshot(conn, merged)
                    return CheckResult(check=check, ok=True, detail=f"snapshot {snap.text} exists")
        except (ActionError, SQLAlchemyError) as exc:
            return CheckResult(check=check, ok=False, detail=str(exc).splitlines()[0])
        return CheckResult(check=check, ok=False, detail=f"the sql executor cannot check {check}")

    def dry_run(self, action: PlannedAction) -> DryRun:
        with self._engine_for(action).connect() as conn:
            prior = self._read_prior(conn, action)
            statements, binds = self._statements(conn, action, prior)
            observed = dict(prior)
            observed["binds"] = {k: str(v) for k, v in binds.items()}
        steps = [s + ";" for s in statements]
        return DryRun(summary=_summary(action, prior), steps=steps, observed=observed)

    def capture(self, action: PlannedAction) -> dict[str, Any]:
        with self._engine_for(action).connect() as conn:
            return self._read_prior(conn, action)

    def verify(self, action: PlannedAction, prior: dict[str, Any]) -> VerificationResult:
        with self._engine_for(action).connect() as conn:
            if action.type == "fallback_audience_snapshot":
                current = view_definition(conn, Relation(prior["view"]))
                snapshot = prior["snapshot"]
                if current and current != prior["definition"] and snapshot in current:
                    return VerificationResult(
                        status="passed",
                        detail=f"view reads {snapshot}",
                        observed={"definition": current},
                    )
                return VerificationResult(status="failed", detail=f"view does not read {snapshot}")
            if action.type == "rehydrate_table_from_snapshot":
                table = _count(conn, Relation(prior["table"]))
                snap = _count(conn, Relation(prior["snapshot"]))
                status = "passed" if table == snap else "failed"
                return VerificationResult(
                    status=status,
                    detail=f"{prior['table']} has {table} rows, snapshot {snap}",
                    observed={"rows": table, "snapshot_rows": snap},
                )
            binds = _range_binds(conn, action.params)
            left = _count(conn, Relation(prior["table"]), _range_sql(conn, action.params), binds)
            return VerificationResult(
                status="passed" if left == 0 else "failed",
                detail=f"{left} rows left in the quarantined range",
                observed={"rows_in_range": left},
            )

    # -- writes --------------------------------------------------------------------------

    def execute(self, action: PlannedAction, prior: dict[str, Any]) -> ActionOutcome:
        try:
            with self._engine_for(action).begin() as conn:
                statements, binds = self._statements(conn, action, prior)
                if action.type == "fallback_audience_snapshot" and conn.dialect.name != "sqlite":
                    # The dry run's CREATE OR REPLACE, with a drop-and-create fallback
                    # when the snapshot's columns differ from the live view's.
                    select_sql = f"SELECT * FROM {_q(conn, prior['snapshot'])}"
                    _replace_view(conn, Relation(prior["view"]), select_sql)
                else:
                    for statement in statements:
                        uses_binds = ":start" in statement
                        conn.execute(text(statement), binds if uses_binds else {})
        except SQLAlchemyError as exc:
            return ActionOutcome(ok=False, detail=f"{action.type} failed: {_first_line(exc)}")
        return ActionOutcome(
            ok=True, detail=_summary(action, prior), data={"statements": statements}
        )

    def rollback(self, action: PlannedAction, prior: dict[str, Any]) -> ActionOutcome:
        try:
            with self._engine_for(action).begin() as conn:
                done = self._restore(conn, action, prior)
        except SQLAlchemyError as exc:
            return ActionOutcome(ok=False, detail=f"rollback failed: {_first_line(exc)}")
        return ActionOutcome(ok=True, detail=done)

    # -- plumbing ------------------------------------------------------------------------

    def _read_prior(self, conn: Connection, action: PlannedAction) -> dict[str, Any]:
        params = action.params
        key = _KEY.sub("_", (action.run_key or "dryrun").lower()).strip("_")
        if action.type == "fallback_audience_snapshot":
            view = Relation(params["view"])
            definition = view_definition(conn, view)
            if definition is None:
                raise ActionError(f"view {view.text} does not exist")
            snap = resolve_snapshot(conn, params)
            return {"view": view.text, "definition": definition, "snapshot": snap.text}
        table = Relation(params["table"])
        if not _has_table(conn, table):
            raise ActionError(f"table {table.text} does not exist")
        if action.type == "rehydrate_table_from_snapshot":
            snap = resolve_snapshot(conn, params)
            return {
                "table": table.text,
                "snapshot": snap.text,
                "rows": _count(conn, table),
                "backup": table.sibling(f"__fsbk_{key}").text,
            }
        if action.type == "quarantine_batch":
            binds = _range_binds(conn, params)
            return {
                "table": table.text,
                "rows_in_range": _count(conn, table, _range_sql(conn, params), binds),
                "quarantine": table.sibling(f"__fsq_{key}").text,
            }
        raise ActionError(f"the sql executor cannot carry out {action.type}")

    def _statements(
        self, conn: Connection, action: PlannedAction, prior: dict[str, Any]
    ) -> tuple[list[str], dict[str, Any]]:
        if action.type == "fallback_audience_snapshot":
            view, snap = _q(conn, prior["view"]), _q(conn, prior["snapshot"])
            select_sql = f"SELECT * FROM {snap}"
            if conn.dialect.name == "sqlite":
                return [f"DROP VIEW {view}", f"CREATE VIEW {view} AS {select_sql}"], {}
            return [f"CREATE OR REPLACE VIEW {view} AS {select_sql}"], {}
        table = _q(conn, prior["table"])
        if action.type == "rehydrate_table_from_snapshot":
            backup, snap = _q(conn, prior["backup"]), _q(conn, prior["snapshot"])
            return [
                f"CREATE TABLE {backup} AS SELECT * FROM {table} WHERE 1 = 0",
                f"INSERT INTO {backup} SELECT * FROM {table}",
                f"DELETE FROM {table}",
                f"INSERT INTO {table} SELECT * FROM {snap}",
            ], {}
        quarantine = _q(conn, prior["quarantine"])
        where = _range_sql(conn, action.params)
        return [
            f"CREATE TABLE {quarantine} AS SELECT * FROM {table} WHERE 1 = 0",
            f"INSERT INTO {quarantine} SELECT * FROM {table} WHERE {where}",
            f"DELETE FROM {table} WHERE {where}",
        ], _range_binds(conn, action.params)

    def _restore(self, conn: Connection, action: PlannedAction, prior: dict[str, Any]) -> str:
        if action.type == "fallback_audience_snapshot":
            view = Relation(prior["view"])
            if conn.dialect.name == "sqlite":
                conn.execute(text(f"DROP VIEW IF EXISTS {view.quoted(conn)}"))
                conn.execute(text(prior["definition"]))
            else:
                _replace_view(conn, view, prior["definition"])
            return f"view {view.text} restored to its prior definition"
        table = _q(conn, prior["table"])
        scratch = (
            prior["backup"]
            if action.type == "rehydrate_table_from_snapshot"
            else prior["quarantine"]
        )
        if not _has_table(conn, Relation(scratch)):
            raise ActionError(f"{scratch} is gone: the prior rows cannot be restored")
        if action.type == "rehydrate_table_from_snapshot":
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text(f"INSERT INTO {table} SELECT * FROM {_q(conn, scratch)}"))
        conn.execute(text(f"DROP TABLE {_q(conn, scratch)}"))
        return f"{prior['table']} restored from {scratch}"


def view_definition(conn: Connection, view: Relation) -> str | None:
    """SQLite: the full CREATE VIEW statement. PostgreSQL: the view's SELECT."""
    if conn.dialect.name == "sqlite":
        schema = conn.dialect.identifier_preparer.quote(view.schema) + "." if view.schema else ""
        found = conn.execute(
            text(f"SELECT sql FROM {schema}sqlite_master WHERE type = 'view' AND name = :n"),
            {"n": view.name},
        ).scalar_one_or_none()
        return None if found is None else str(found)
    found = conn.execute(
        text(
            "SELECT pg_get_viewdef(c.oid, true) FROM pg_class c "
            "WHERE c.oid = to_regclass(:n) AND c.relkind = 'v'"
        ),
        {"n": view.quoted(conn)},
    ).scalar_one_or_none()
    return None if found is None else str(found)


def resolve_snapshot(conn: Connection, params: Mapping[str, Any]) -> Relation:
    """The named snapshot table, or the newest (greatest name) one with the prefix."""
    if params.get("snapshot"):
        snap = Relation(params["snapshot"])
        if not _has_table(conn, snap):
            raise ActionError(f"snapshot table {snap.text} does not exist")
        return snap
    prefix = Relation(params.get("snapshot_prefix"))
    names = [
        n for n in inspect(conn).get_table_names(schema=prefix.schema) if n.startswith(prefix.name)
    ]
    if not names:
        raise ActionError(f"no snapshot table starts with {prefix.text!r}")
    newest = max(names)
    return Relation(f"{prefix.schema}.{newest}" if prefix.schema else newest)


def _replace_view(conn: Connection, view: Relation, select_sql: str) -> None:
    """CREATE OR REPLACE, else (columns changed) drop and create in the same transaction."""
    name = view.quoted(conn)
    body = select_sql.strip().rstrip(";")
    try:
        with conn.begin_nested():
            conn.execute(text(f"CREATE OR REPLACE VIEW {name} AS {body}"))
    except SQLAlchemyError:
        conn.execute(text(f"DROP VIEW {name}"))
        conn.execute(text(f"CREATE VIEW {name} AS {body}"))


def _has_table(conn: Connection, rel: Relation) -> bool:
    return bool(inspect(conn).has_table(rel.name, schema=rel.schema))


def _q(conn: Connection, name: str) -> str:
    return Relation(name).quoted(conn)


def _count(
    conn: Connection, rel: Relation, where: str = "", binds: dict[str, Any] | None = None
) -> int:
    sql = f"SELECT count(*) FROM {rel.quoted(conn)}" + (f" WHERE {where}" if where else "")
    return int(conn.execute(text(sql), binds or {}).scalar_one())


def _range_sql(conn: Connection, params: Mapping[str, Any]) -> str:
    column = Relation(params["column"]).name
    col = conn.dialect.identifier_preparer.quote(column)
    return f"{col} >= :start AND {col} < :end"


def _range_binds(conn: Connection, params: Mapping[str, Any]) -> dict[str, Any]:
    """The window's bounds in the column's representation (``column_type`` param)."""
    kind = str(params.get("column_type") or "timestamp")
    out: dict[str, Any] = {}
    for bound in ("start", "end"):
        value = params[bound]
        if kind == "text":
            out[bound] = str(value)
            continue
        moment = value if isinstance(value, datetime) else parse_timestamp(str(value))
        if kind == "epoch_us":
            out[bound] = int(moment.timestamp() * 1_000_000)
        elif kind == "epoch_s":
            out[bound] = int(moment.timestamp())
        elif kind == "timestamp":
            # SQLite keeps timestamps as 'YYYY-MM-DD HH:MM:SS' text in UTC.
            naive = moment.replace(tzinfo=None)
            out[bound] = naive.isoformat(sep=" ") if conn.dialect.name == "sqlite" else moment
        else:
            raise ActionError(f"column_type {kind!r} must be timestamp, epoch_us, epoch_s or text")
    return out


def _summary(action: PlannedAction, prior: Mapping[str, Any]) -> str:
    if action.type == "fallback_audience_snapshot":
        return f"point view {prior['view']} at snapshot {prior['snapshot']}"
    if action.type == "rehydrate_table_from_snapshot":
        return (
            f"replace the {prior['rows']} rows of {prior['table']} with {prior['snapshot']} "
            f"(prior rows kept in {prior['backup']})"
        )
    return (
        f"move {prior['rows_in_range']} rows of {prior['table']} in "
        f"[{action.params['start']}, {action.params['end']}) to {prior['quarantine']}"
    )


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
