"""MCP tool-call latency through the real MCP client, on a simulated MarTech stack.

    .venv/bin/python -m bench.bench_mcp [--calls 300] [--clients 20] [--per-client 25]

- stdio: ``flowsleuth mcp`` as a subprocess; sequential ``lineage_upstream`` calls (after
  a warm-up), p50 and p99 of the round trip. Target p50 <= 5 ms.
- HTTP: ``flowsleuth serve`` on loopback with a bearer token; ``--clients`` concurrent
  clients each making ``--per-client`` calls, p50 and p99 of every round trip. Target
  p99 <= 100 ms. Three runs: (1) the lineage query, (2) a mix of lineage, impact,
  incident and metric tools, both from a light load generator that sends exactly the
  requests the SDK's client sends (the same JSON-RPC body, ``_meta`` and MCP headers,
  captured from ``mcp.Client``) over one keep-alive connection per client; (3) the mix
  from real ``mcp.Client`` instances, all in this one process. Run (3) includes the
  Python client's own cost (it validates every result against the tool's output schema)
  and shares the two cores with the server, so it measures client plus server.

Both servers read the same SQLite store, filled by the simulator (8 days, 40 assets, a
column rename and a failing job) with anomalies and incidents from a detection pass.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tools.incidents.investigate import investigate
from tools.simulate.config import FaultSpec, SimConfig
from tools.simulate.load import load_simulation
from tools.store import open_store, to_micros

END = datetime(2026, 3, 2, 12, tzinfo=UTC)
AT = "2026-03-02T12:00:00Z"
TOKEN = "bench-token-0123456789abcdef"
CAMPAIGN = "dataset:braze://acme:campaign.cart_recovery_flow"
CRM = "dataset:s3://acme-crm-exports:crm/contacts"
STG_CRM = "dataset:snowflake://acme.eu-west-1:analytics.staging.stg_crm_contacts"


def prepare(folder: Path) -> str:
    url = f"sqlite:///{folder / 'bench.db'}"
    store = open_store(url)
    config = SimConfig(
        end=END,
        size=40,
        days=8,
        scenarios=[
            FaultSpec("renamed_source_column"),
            FaultSpec("failed_staging_job", node="job:dbt://acme:analytics.staging.stg_web_events"),
        ],
    )
    load_simulation(store, config, folder / "sim")
    investigate(store, to_micros(END))
    store.dispose()
    return url


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1e3, 2),
        "p99_ms": round(pick(0.99) * 1e3, 2),
        "max_ms": round(ordered[-1] * 1e3, 2),
    }


async def bench_stdio(url: str, calls: int) -> dict[str, float]:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "agent", "--db", url, "--at", AT, "mcp"]
    )
    args = {"node": CAMPAIGN}
    samples: list[float] = []
    async with Client(params) as client:
        for _ in range(20):  # warm-up: graph load, statement caches
            await client.call_tool("lineage_upstream", args)
        for _ in range(calls):
            began = time.perf_counter()
            result = await client.call_tool("lineage_upstream", args)
            samples.append(time.perf_counter() - began)
            assert not result.is_error, result.content
    return percentiles(samples)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(url: str) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "FLOWSLEUTH_MCP_TOKENS": json.dumps({TOKEN: ["read"]}),
        "FLOWSLEUTH_AT": AT,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "--db", url, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("flowsleuth serve did not start")
            time.sleep(0.1)
        yield f"{base}/mcp"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


MIX: list[tuple[str, dict[str, Any]]] = [
    ("lineage_upstream", {"node": CAMPAIGN}),
    ("lineage_downstream", {"node": CRM}),
    ("assess_impact", {"node": CRM}),
    ("list_incidents", {"status": "open"}),
    ("query_metrics", {"node": STG_CRM, "name": "data.null_fraction", "buckets": 24}),
]
LINEAGE = MIX[:1]
PROTOCOL = "2026-07-28"


def _request(index: int, name: str, args: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """A tools/call exactly as mcp.Client sends it on a 2026-07-28 connection."""
    body = {
        "jsonrpc": "2.0",
        "id": index,
        "method": "tools/call",
        "params": {
            "name": name,
            "arguments": args,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": PROTOCOL,
                "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "0"},
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }
    headers = {
        "authorization": f"Bearer {TOKEN}",
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-protocol-version": PROTOCOL,
        "mcp-method": "tools/call",
        "mcp-name": name,
    }
    return headers, json.dumps(body).encode()


async def _timed(
    clients: int, call: Any, per_client: int, calls: list[tuple[str, dict[str, Any]]]
) -> dict[str, Any]:
    """Every client makes ``per_client`` calls at once; the clients exist and have made one
    call each before the clock starts, so only steady-state calls are measured."""
    samples: list[float] = []

    async def run(index: int) -> None:
        for i in range(per_client):
            name, args = calls[(index + i) % len(calls)]
            began = time.perf_counter()
            await call(index, i, name, args)
            samples.append(time.perf_counter() - began)

    for index in range(clients):
        await call(index, 0, *calls[0])
    began = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for index in range(clients):
            tg.start_soon(run, index)
    wall = time.perf_counter() - began
    return {"all": percentiles(samples), "calls_per_s": round(len(samples) / wall, 1)}


async def bench_raw(
    endpoint: str, calls: list[tuple[str, dict[str, Any]]], clients: int, per_client: int
) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        # One keep-alive connection per client, as an IDE holds one.
        https = [
            await stack.enter_async_context(httpx.AsyncClient(timeout=30))
            for _ in range(clients)
        ]

        async def call(index: int, i: int, name: str, args: dict[str, Any]) -> None:
            headers, body = _request(i, name, args)
            response = await https[index].post(endpoint, content=body, headers=headers)
            reply = response.json()
            assert response.status_code == 200 and not reply["result"].get("isError"), reply

        for name, args in calls * 3:  # warm-up: graph load, caches
            await call(0, 0, name, args)
        return await _timed(clients, call, per_client, calls)


async def bench_sdk(endpoint: str, clients: int, per_client: int) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        sessions = []
        for _ in range(clients):
            http = await stack.enter_async_context(
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
            )
            client = await stack.enter_async_context(
                Client(streamable_http_client(endpoint, http_client=http))
            )
            await client.list_tools()
            sessions.append(client)

        async def call(index: int, i: int, name: str, args: dict[str, Any]) -> None:
            result = await sessions[index].call_tool(name, args)
            assert not result.is_error, result.content

        return await _timed(clients, call, per_client, MIX)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="stdio calls measured")
    parser.add_argument("--clients", type=int, default=20, help="concurrent HTTP clients")
    parser.add_argument("--per-client", type=int, default=25, help="calls per HTTP client")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        url = prepare(Path(tmp))
        print(f"store prepared in {time.perf_counter() - began:.1f} s")
        stdio = anyio.run(bench_stdio, url, args.calls)
        print(f"stdio lineage_upstream: {stdio}  (target p50 <= 5 ms)")
        with serve(url) as endpoint:
            runs = {
                "lineage_upstream": anyio.run(
                    bench_raw, endpoint, LINEAGE, args.clients, args.per_client
                ),
                "tool mix": anyio.run(bench_raw, endpoint, MIX, args.clients, args.per_client),
                "tool mix, mcp.Client x N in-process": anyio.run(
                    bench_sdk, endpoint, args.clients, args.per_client
                ),
            }
        for label, run in runs.items():
            print(f"http {args.clients} concurrent clients, {label}: {run['all']}, "
                  f"{run['calls_per_s']} calls/s  (target p99 <= 100 ms)")
        print(f"load average during the run: {os.getloadavg()}")

if __name__ == "__main__":
    main()
