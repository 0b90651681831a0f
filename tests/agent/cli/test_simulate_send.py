"""``flowsleuth simulate --send URL`` to a real ``flowsleuth serve``: with the server's
ingestion token everything lands; without it the server's 401 is the error shown."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from agent.cli import app
from tests.live_server import INGEST_TOKEN, live_server
from tools.store import open_store
from tools.store.models import Run

runner = CliRunner()
ARGS = ["simulate", "--size", "12", "--days", "3", "--end", "2026-03-10T00:00:00Z"]


def test_send_with_the_token_lands_and_without_it_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    with live_server(url) as server:
        refused = runner.invoke(
            app, [*ARGS, "--send", server.url], env={"FLOWSLEUTH_INGEST_TOKEN": ""}
        )
        assert refused.exit_code != 0
        assert "401" in refused.output
        sent = runner.invoke(
            app, [*ARGS, "--send", server.url], env={"FLOWSLEUTH_INGEST_TOKEN": INGEST_TOKEN}
        )
        assert sent.exit_code == 0, sent.output
    store = open_store(url)
    try:
        with store.read() as conn:
            assert conn.execute(select(func.count()).select_from(Run)).scalar_one() > 0
    finally:
        store.dispose()
