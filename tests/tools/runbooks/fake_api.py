"""A real loopback HTTP API that records every call, for executor and CLI tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeApi:
    """An orchestrator + reverse-ETL + campaign tool + notifier in one small server."""

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    campaigns: dict[str, str] = field(default_factory=dict)
    credentials: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def writes(self) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method != "GET"]

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if parts[:3] == ["api", "v1", "campaigns"] and len(parts) >= 4:
            name = parts[3]
            if name not in self.campaigns:
                return 404, {"error": f"no campaign {name}"}
            if method == "GET":
                return 200, {"name": name, "status": self.campaigns[name]}
            if method == "PUT" and parts[4:] == ["status"]:
                self.campaigns[name] = body["status"]
                return 200, {"name": name, "status": body["status"]}
        if parts[:3] == ["api", "v1", "destinations"] and len(parts) >= 5:
            name = parts[3]
            if method == "GET":
                return 200, {"credential_id": self.credentials.get(name, "none")}
            if method == "PUT" and parts[4:] == ["credential"]:
                self.credentials[name] = f"cred-{len(self.calls)}"
                return 200, {"credential_id": self.credentials[name]}
            if method == "PUT" and parts[4:] == ["credential", "active"]:
                self.credentials[name] = body["credential_id"]
                return 200, {"credential_id": body["credential_id"]}
        if method == "POST" and path.startswith("/api/v1/fail"):
            return 500, {"error": "boom"}
        if method == "POST":
            return 202, {"accepted": True}
        return 404, {"error": "not found"}


@contextmanager
def serve_fake_api() -> Iterator[FakeApi]:
    api = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            with api.lock:
                api.calls.append(Call(self.command, self.path, dict(self.headers), body))
                status, reply = api.handle(self.command, self.path, body)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
