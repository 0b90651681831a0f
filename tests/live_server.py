"""Runs ``flowsleuth serve`` as a real subprocess on a free loopback port.

The server accepts ingestion with :data:`INGEST_TOKEN` unless the caller configures
FLOWSLEUTH_INGEST_TOKENS itself; :meth:`LiveServer.post` sends it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

INGEST_TOKEN = "test-ingest-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    token: str | None = INGEST_TOKEN

    @property
    def auth(self) -> dict[str, str]:
        """The Authorization header that ingestion needs."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        """POST ``path`` with the ingestion token (headers given are added to it)."""
        headers = {**self.auth, **kwargs.pop("headers", {})}
        return httpx.post(f"{self.url}{path}", headers=headers, **kwargs)

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flushing, as in a crash."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


def _start(db_url: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes] | None, str]:
    """Start ``flowsleuth serve`` on a free port; (None, url) if the port was taken."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "--db", db_url, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            if proc.stderr:
                proc.stderr.close()
            if "address already in use" in err.lower():
                return None, url
            raise RuntimeError(f"flowsleuth serve exited early ({proc.returncode}): {err}")
        try:
            health = httpx.get(f"{url}/healthz", timeout=1)
            # Only our own process counts: another test's server may answer on this port
            # until ours fails to bind and exits.
            if health.status_code == 200 and health.json().get("pid") == proc.pid:
                return proc, url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("flowsleuth serve did not become healthy in 30 s")
        time.sleep(0.1)


@contextmanager
def live_server(db_url: str, *extra_env: tuple[str, str]) -> Iterator[LiveServer]:
    # Ingestion tokens come from the caller or are the test token, never from the
    # developer's own environment.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("FLOWSLEUTH_INGEST_")}
    given = dict(extra_env)
    own_tokens = any(k.startswith("FLOWSLEUTH_INGEST_TOKENS") for k in given)
    if not own_tokens:
        given["FLOWSLEUTH_INGEST_TOKENS"] = f'["{INGEST_TOKEN}"]'
    env = {**inherited, **given}
    for _attempt in range(3):
        proc, url = _start(db_url, env)
        if proc is not None:
            break
        # Another test's server took the port between free_port() and our bind.
    else:
        raise RuntimeError("flowsleuth serve found its port taken three times")
    server = LiveServer(url, proc, None if own_tokens else INGEST_TOKEN)
    try:
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr:
            proc.stderr.close()
