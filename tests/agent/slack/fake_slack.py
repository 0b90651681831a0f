"""A fake Slack on loopback: the Web API methods the app calls, response_url endpoints,
and a Socket Mode WebSocket endpoint, recording every call.

Requests to flowsleuth are signed the way Slack signs them, with slack_sdk's own
:class:`SignatureVerifier` (the official client computes the same signature Bolt checks).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode

from slack_sdk.signature import SignatureVerifier

BOT_USER = "UBOT"
SIGNING_SECRET = "test-signing-secret"


@dataclass
class ApiCall:
    method: str  # "chat.postMessage", or "respond" for a response_url POST
    args: dict[str, Any]


@dataclass
class FakeSlack:
    url: str = ""
    calls: list[ApiCall] = field(default_factory=list)
    not_in_channel: set[str] = field(default_factory=set)
    failing: dict[str, str] = field(default_factory=dict)  # method -> error to return
    socket_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: int = 0

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def of(self, method: str) -> list[dict[str, Any]]:
        with self.lock:
            return [c.args for c in self.calls if c.method == method]

    def wait_for(
        self, method: str, count: int = 1, timeout: float = 20.0, where: Callable[..., bool] = bool
    ) -> list[dict[str, Any]]:
        """The calls of ``method`` once at least ``count`` matching ones arrived."""
        deadline = time.monotonic() + timeout
        while True:
            found = [a for a in self.of(method) if where(a)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def handle(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.calls.append(ApiCall(method, args))
            self._ts += 1
            ts = f"1700000000.{self._ts:06d}"
        if method in self.failing:
            return {"ok": False, "error": self.failing[method]}
        if method == "auth.test":
            return {"ok": True, "user_id": BOT_USER, "bot_id": "BBOT", "team_id": "T1"}
        if method in ("chat.postMessage", "chat.update"):
            channel = str(args.get("channel"))
            if channel in self.not_in_channel:
                return {"ok": False, "error": "not_in_channel"}
            # Slack answers with the channel's id, whatever name the caller used.
            if channel.startswith("#"):
                channel = "C" + channel[1:].upper().replace("-", "")
            return {"ok": True, "channel": channel, "ts": args.get("ts") or ts}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": ts}
        if method == "views.open":
            return {"ok": True, "view": {"id": f"V{self._ts}", **dict(args.get("view") or {})}}
        if method == "apps.connections.open":
            return {"ok": True, "url": self.socket_url}
        if method == "respond":
            return {"ok": True}
        return {"ok": False, "error": "unknown_method"}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        kind = self.headers.get("content-type", "")
        args: dict[str, Any]
        if "json" in kind:
            args = json.loads(raw or b"{}")
        else:
            args = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            for key in ("blocks", "attachments"):
                if isinstance(args.get(key), str):
                    args[key] = json.loads(args[key])
        path = self.path.split("?")[0]
        method = "respond" if path.startswith("/respond/") else path.removeprefix("/api/")
        body = json.dumps(self.server.fake.handle(method, args)).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeSlack


@contextmanager
def serve_fake_slack() -> Iterator[FakeSlack]:
    server = _Server(("127.0.0.1", 0), _Handler)
    fake = FakeSlack(url=f"http://127.0.0.1:{server.server_address[1]}")
    server.fake = fake
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# -- signed requests, as Slack sends them ---------------------------------------------


def signed_headers(
    body: str,
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    content_type: str = "application/x-www-form-urlencoded",
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {
        "content-type": content_type,
        "x-slack-request-timestamp": ts,
        "x-slack-signature": signature or "",
    }


def block_action(
    action_id: str,
    proposal_id: int | str,
    *,
    user: str,
    channel: str = "C1",
    message_ts: str = "1700000000.000001",
) -> str:
    """The form body of a Block Kit button click (``payload=<json>``)."""
    payload = {
        "type": "block_actions",
        "team": {"id": "T1"},
        "user": {"id": user, "username": user.lower()},
        "api_app_id": "A1",
        "token": "legacy",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
        "trigger_id": "1.2.3",
        "channel": {"id": channel, "name": "data-incidents"},
        "message": {"type": "message", "ts": message_ts, "text": "incident"},
        "response_url": "",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": f"proposal-{proposal_id}",
                "value": str(proposal_id),
                "action_ts": "1700000001.0",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def reason_submission(view: dict[str, Any], reason: str, *, user: str) -> str:
    """The form body Slack sends when someone submits the reject-reason dialog."""
    submitted = {
        **view,
        "id": "V1",
        "state": {"values": {"reason": {"text": {"type": "plain_text_input", "value": reason}}}},
    }
    payload = {
        "type": "view_submission",
        "team": {"id": "T1"},
        "user": {"id": user, "username": user.lower()},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": "1.2.4",
        "view": submitted,
    }
    return urlencode({"payload": json.dumps(payload)})


def mention_event(text: str, *, event_id: str, channel: str = "C1", ts: str = "1700000100.0001")\
        -> str:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": "T1",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1700000100,
            "authorizations": [{"team_id": "T1", "user_id": BOT_USER, "is_bot": True}],
            "event": {
                "type": "app_mention",
                "user": "U0ALICE",
                "text": f"<@{BOT_USER}> {text}",
                "ts": ts,
                "channel": channel,
                "event_ts": ts,
            },
        }
    )


def slash_command(text: str, *, response_url: str, channel: str = "C1") -> str:
    return urlencode(
        {
            "token": "legacy",
            "team_id": "T1",
            "channel_id": channel,
            "user_id": "U0ALICE",
            "command": "/flowsleuth",
            "text": text,
            "response_url": response_url,
            "trigger_id": "1.2.3",
            "api_app_id": "A1",
        }
    )


# -- Socket Mode ----------------------------------------------------------------------


@dataclass
class FakeSocket:
    """A Socket Mode endpoint: sends ``hello``, then the envelopes it is given, and
    records what the app sends back (the acknowledgements)."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    outbox: asyncio.Queue[dict[str, Any]] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    connected: threading.Event = field(default_factory=threading.Event)

    def send(self, envelope: dict[str, Any]) -> None:
        assert self.loop is not None and self.outbox is not None
        self.loop.call_soon_threadsafe(self.outbox.put_nowait, envelope)

    def acks(self) -> list[str]:
        return [str(m.get("envelope_id")) for m in list(self.received) if "envelope_id" in m]


@contextmanager
def serve_fake_socket() -> Iterator[FakeSocket]:
    from websockets.asyncio.server import ServerConnection, serve

    fake = FakeSocket()
    ready = threading.Event()
    stop: list[asyncio.Event] = []

    async def handler(ws: ServerConnection) -> None:
        assert fake.outbox is not None
        await ws.send(json.dumps({"type": "hello", "num_connections": 1}))
        fake.connected.set()

        async def pump() -> None:
            assert fake.outbox is not None
            while True:
                await ws.send(json.dumps(await fake.outbox.get()))

        sender = asyncio.create_task(pump())
        try:
            async for message in ws:
                fake.received.append(json.loads(message))
        finally:
            sender.cancel()

    async def main() -> None:
        fake.loop = asyncio.get_running_loop()
        fake.outbox = asyncio.Queue()
        done = asyncio.Event()
        stop.append(done)
        async with serve(handler, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            fake.url = f"ws://127.0.0.1:{port}/link"
            ready.set()
            await done.wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10), "the fake Socket Mode server did not start"
    try:
        yield fake
    finally:
        assert fake.loop is not None
        fake.loop.call_soon_threadsafe(stop[0].set)
        thread.join(timeout=10)
