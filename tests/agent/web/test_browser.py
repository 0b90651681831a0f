"""A real browser against a real ``flowsleuth serve``: log in, read an incident, approve.

Drives Debian's Chromium through Playwright; skipped (saying why) when either is missing
or Chromium cannot start. Screenshots go to $FLOWSLEUTH_TEST_ARTIFACTS (else test-artifacts/web).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent.web.support import PASSWORD, USERS, queue_pause
from tests.agent.web.test_kpis import build_month
from tests.live_server import live_server
from tests.tools.runbooks.fake_api import FakeApi, serve_fake_api
from tools.runbooks import get_proposal
from tools.store import Store

# Gitignored; screenshots stay after the run for people to look at.
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "web"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_api.sync_playwright() as pw:
        try:
            launched = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        except sync_api.Error as exc:
            pytest.skip(f"Chromium at {CHROMIUM} cannot be launched: {exc}")
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with serve_fake_api() as fake:
        fake.campaigns["spring_sale"] = "active"
        yield fake


def _login(page: Any, url: str, user: str) -> None:
    page.goto(f"{url}/ui/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{url}/ui/approvals")


def test_operator_journey(browser: Any, api: FakeApi, sqlite_store: Store, tmp_path: Path) -> None:
    ids = build_month(sqlite_store)
    pid = queue_pause(sqlite_store).id
    shots = Path(os.environ.get("FLOWSLEUTH_TEST_ARTIFACTS") or ARTIFACTS)
    shots.mkdir(parents=True, exist_ok=True)
    env = [(f"FLOWSLEUTH_SECRET_{t}_URL", api.url) for t in ("NOTIFIER", "CAMPAIGNS")]
    env += [("FLOWSLEUTH_WEB_USERS", json.dumps(USERS)), ("FLOWSLEUTH_WEB_SECRET", "s3")]
    with live_server(str(sqlite_store.engine.url), *env) as server:
        eng = browser.new_page()
        _login(eng, server.url, "eng")
        eng.fill(f"#proposal-{pid} input[name=reason]", "looks right")
        eng.click(f"#proposal-{pid} button[value=approve]")
        assert "needs one of [data-lead]" in eng.content()
        assert get_proposal(sqlite_store, pid).status == "proposed"

        lead = browser.new_page()
        _login(lead, server.url, "lead")
        lead.screenshot(path=str(shots / "approval-queue.png"), full_page=True)
        lead.goto(f"{server.url}/ui/incidents/{ids['live']}")
        assert lead.locator("svg.lineage").count() == 1, lead.content()[:4000]
        lead.click("button[data-tab=marketer]")
        assert lead.locator("#tab-marketer").is_visible()
        assert not lead.locator("#tab-engineer").is_visible()
        lead.screenshot(path=str(shots / "incident.png"), full_page=True)

        lead.goto(f"{server.url}/ui/approvals")
        lead.fill(f"#proposal-{pid} input[name=reason]", "consent mismatch confirmed")
        lead.click(f"#proposal-{pid} button[value=approve]")
        lead.wait_for_url(re.compile(r".*/ui/approvals\?(msg|err)="), timeout=10_000)
        assert "applied" in lead.locator(".flash").inner_text(), lead.content()[:2000]
        assert lead.locator(f"#proposal-{pid} .status").inner_text() == "applied"
    assert api.campaigns["spring_sale"] == "paused"
    assert (shots / "approval-queue.png").stat().st_size > 0
    assert (shots / "incident.png").stat().st_size > 0
