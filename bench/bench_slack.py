"""How fast ``flowsleuth serve`` acknowledges Slack, with listeners busy behind it.

    .venv/bin/python -m bench.bench_slack [--requests 300] [--clients 10]

``flowsleuth serve`` runs as a subprocess with the Slack app in HTTP mode, pointed at a
fake Slack Web API on loopback; the store holds a simulated stack whose investigation
paused for approvals. ``--clients`` concurrent senders post signed requests, a third
each of: a button click on a proposal by a user without the role (decided and refused
after the acknowledgement), an ``@flowsleuth`` mention (answered from the store after
it), and ``/flowsleuth incidents``. Reported: p50, p99 and max time to the HTTP answer,
which is what Slack's 3-second limit applies to, and how many replies the fake Slack
received by the end (the work done after the acknowledgements).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from agent.slack.blocks import APPROVE
from tests.agent.slack.fake_slack import (
    SIGNING_SECRET,
    block_action,
    mention_event,
    serve_fake_slack,
    signed_headers,
    slash_command,
)
from tests.helpers.simstore import AT, load_into
from tests.live_server import free_port
from tools.runbooks import list_proposals
from tools.store import open_store


def build(folder: Path) -> tuple[str, int]:
    """A store whose investigation paused for people: the db path and a high-tier
    proposal id waiting for a decision."""
    db = folder / "slack.db"
    store = open_store(f"sqlite:///{db}")
    try:
        load_into(store, folder / "sim", "expired_vendor_token", size=40)
    finally:
        store.dispose()
    subprocess.run(
        [sys.executable, "-m", "agent", "--db", str(db), "--at", AT, "investigate", "--json"],
        capture_output=True,
        check=True,
    )
    store = open_store(f"sqlite:///{db}")
    try:
        pending = [p.id for p in list_proposals(store, status="proposed") if p.tier == "high"]
    finally:
        store.dispose()
    if not pending:
        raise SystemExit("the simulated investigation did not pause for a person")
    return str(db), pending[0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, serve_fake_slack() as fake:
        db, proposal = build(Path(tmp))
        port = free_port()
        env = {
            **os.environ,
            "FLOWSLEUTH_SLACK_BOT_TOKEN": "xoxb-bench",
            "FLOWSLEUTH_SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "FLOWSLEUTH_SLACK_API_URL": fake.api_url,
            "FLOWSLEUTH_SLACK_DEFAULT_CHANNEL": "C1",
            "FLOWSLEUTH_SLACK_USERS": json.dumps({"U0ENG": "eng"}),
            "FLOWSLEUTH_APPROVALS_USERS": json.dumps({"eng": ["data-engineer"]}),
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "agent", "--db", db, "--at", AT, "serve",
             "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}/slack/events"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise SystemExit("serve did not start") from None
                    time.sleep(0.2)
            bodies: list[tuple[str, str]] = []
            for i in range(args.requests):
                kind = i % 3
                if kind == 0:
                    body = block_action(APPROVE, proposal, user="U0ENG")
                    bodies.append((body, "application/x-www-form-urlencoded"))
                elif kind == 1:
                    body = mention_event("why did the braze sync fail?", event_id=f"Ev{i}")
                    bodies.append((body, "application/json"))
                else:
                    body = slash_command("incidents", response_url=f"{fake.url}/respond/{i}")
                    bodies.append((body, "application/x-www-form-urlencoded"))

            local = threading.local()

            def send(item: tuple[str, str]) -> float:
                # One keep-alive client per sender, as Slack keeps its connections open;
                # a new client per request would measure TLS-context set-up, not flowsleuth.
                if not hasattr(local, "client"):
                    local.client = httpx.Client(timeout=30)
                body, kind = item
                headers = signed_headers(body, content_type=kind)
                began = time.perf_counter()
                resp = local.client.post(url, content=body, headers=headers)
                took = time.perf_counter() - began
                if resp.status_code != 200:
                    raise SystemExit(f"Slack request answered {resp.status_code}: {resp.text}")
                return took

            began = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                times = sorted(pool.map(send, bodies))
            wall = time.perf_counter() - began
            expected = args.requests  # one reply per request: ephemeral, thread, thread
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                replies = len(fake.of("chat.postEphemeral")) + len(
                    [a for a in fake.of("chat.postMessage") if a.get("thread_ts")]
                )
                if replies >= expected:
                    break
                time.sleep(0.2)
            drained = time.perf_counter() - began
        finally:
            server.terminate()
            server.wait(timeout=30)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(
        f"Slack acknowledgements, {args.requests} signed requests from {args.clients} clients: "
        f"p50 {statistics.median(times) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {times[-1] * 1000:.1f} ms (Slack's limit: 3000 ms); all acknowledged in "
        f"{wall:.1f} s; {replies}/{expected} replies delivered after {drained:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
