"""HTTP executor: orchestrator retries, reverse-ETL syncs, campaign pauses, notifications.

Base URLs and tokens come from :mod:`tools.runbooks.secrets`; the playbook only names the
logical target and the path. Each call carries an ``Idempotency-Key`` (the proposal's run
key) so an API that honours it never acts twice on a retried request.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from tools.runbooks.models import (
    ActionError,
    ActionOutcome,
    CheckResult,
    DryRun,
    PlannedAction,
    VerificationResult,
)
from tools.runbooks.schema import HttpRequestSpec
from tools.runbooks.secrets import Secrets, target_secret
from tools.runbooks.templating import TemplateError, render

MAX_BODY_CHARS = 4_000


class HttpExecutor:
    name = "http"

    def __init__(
        self, secrets: Secrets, *, client: httpx.Client | None = None, timeout: float = 15.0
    ) -> None:
        self._secrets = secrets
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        self._client.close()

    # -- reads ---------------------------------------------------------------------------

    def check(self, action: PlannedAction, check: str, params: dict[str, Any]) -> CheckResult:
        if check != "target_configured":
            return CheckResult(
                check=check, ok=False, detail=f"the http executor cannot check {check}"
            )
        target = str(params.get("target") or (action.http.target if action.http else ""))
        name = target_secret(target, "URL")
        if self._secrets.get(name):
            return CheckResult(check=check, ok=True, detail=f"{target} is configured")
        return CheckResult(
            check=check,
            ok=False,
            detail=f"target {target!r} has no base URL: set FLOWSLEUTH_SECRET_{name}",
        )

    def dry_run(self, action: PlannedAction) -> DryRun:
        spec = self._spec(action)
        steps = []
        if action.capture is not None:
            steps.append(f"read prior state: {self._describe(action.capture)}")
        steps.append(f"send: {self._describe(spec)}")
        if action.rollback.mode == "request" and action.rollback.http is not None:
            steps.append(f"undo with: {self._describe(action.rollback.http)}")
        return DryRun(summary=f"{action.type}: {spec.method} {spec.target}{spec.path}", steps=steps)

    def capture(self, action: PlannedAction) -> dict[str, Any]:
        if action.capture is None:
            return {}
        response = self._send(action.capture, action.run_key + ":capture")
        if response.status_code >= 300:
            raise_for(response, "reading prior state")
        body = _json_or_text(response)
        return body if isinstance(body, dict) else {"value": body}

    def verify(self, action: PlannedAction, prior: dict[str, Any]) -> VerificationResult:
        spec = self._spec(action)
        path = action.verification.params.get("path")
        if not isinstance(path, str):
            return VerificationResult(status="failed", detail="executor verification needs 'path'")
        check = HttpRequestSpec(target=spec.target, method="GET", path=path)
        try:
            response = self._send(check, action.run_key + ":verify")
        except httpx.HTTPError as exc:
            return VerificationResult(status="pending", detail=f"GET {path}: {exc}")
        body = _json_or_text(response)
        expect = action.verification.params.get("expect") or {}
        if response.status_code >= 300:
            return VerificationResult(
                status="pending", detail=f"GET {path} -> {response.status_code}"
            )
        if not isinstance(body, dict):
            return VerificationResult(status="failed", detail=f"GET {path}: not a JSON object")
        wrong = {k: body.get(k) for k, v in expect.items() if body.get(k) != v}
        if wrong:
            return VerificationResult(
                status="pending", detail=f"not yet: {wrong} != {expect}", observed=body
            )
        return VerificationResult(
            status="passed", detail=f"GET {path} shows {expect}", observed=body
        )

    # -- writes --------------------------------------------------------------------------

    def execute(self, action: PlannedAction, prior: dict[str, Any]) -> ActionOutcome:
        return self._call(self._spec(action), action.run_key, "execute")

    def rollback(self, action: PlannedAction, prior: dict[str, Any]) -> ActionOutcome:
        if action.rollback.mode != "request" or action.rollback.http is None:
            return ActionOutcome(ok=False, detail=f"no inverse request: {action.rollback.reason}")
        try:
            raw = action.rollback.http.model_dump(by_alias=True)
            filled = render(raw, {"prior": prior})
            # Path text is URL-quoted as at planning time; the body keeps its types.
            filled["path"] = render(raw["path"], {"prior": prior}, escape=_quote)
            spec = HttpRequestSpec.model_validate(filled)
        except TemplateError as exc:
            return ActionOutcome(ok=False, detail=f"cannot build the undo request: {exc}")
        return self._call(spec, action.run_key + ":rollback", "rollback")

    # -- plumbing ------------------------------------------------------------------------

    def _spec(self, action: PlannedAction) -> HttpRequestSpec:
        if action.http is None:
            raise ValueError(f"{action.key}: no http request to send")
        return action.http

    def _call(self, spec: HttpRequestSpec, key: str, what: str) -> ActionOutcome:
        try:
            response = self._send(spec, key)
        except httpx.HTTPError as exc:
            return ActionOutcome(ok=False, detail=f"{what}: {spec.method} {spec.path}: {exc}")
        data = {"status_code": response.status_code, "response": _json_or_text(response)}
        ok = 200 <= response.status_code < 300
        detail = f"{spec.method} {spec.target}{spec.path} -> {response.status_code}"
        return ActionOutcome(ok=ok, detail=detail, data=data)

    def _send(self, spec: HttpRequestSpec, key: str) -> httpx.Response:
        base = self._secrets.get(target_secret(spec.target, "URL"))
        if not base:
            raise httpx.RequestError(f"target {spec.target!r} has no base URL configured")
        headers = {"Idempotency-Key": key, "User-Agent": "flowsleuth-runbooks"}
        token = self._secrets.get(target_secret(spec.target, "TOKEN"))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = dict(spec.json_body) if spec.json_body is not None else None
        for field, secret in spec.secret_fields.items():
            value = self._secrets.get(secret)
            if value is None:
                raise httpx.RequestError(f"secret {secret} for field {field!r} is not set")
            body = (body or {}) | {field: value}
        return self._client.request(
            spec.method, base.rstrip("/") + spec.path, json=body, headers=headers
        )

    def _describe(self, spec: HttpRequestSpec) -> str:
        base = self._secrets.get(target_secret(spec.target, "URL")) or f"<{spec.target} URL unset>"
        body = dict(spec.json_body or {}) | {k: "***" for k in spec.secret_fields}
        shown = f" json={body}" if body else ""
        return f"{spec.method} {base.rstrip('/')}{spec.path}{shown}"


def raise_for(response: httpx.Response, what: str) -> None:
    raise ActionError(f"{what}: {response.request.method} {response.url} -> {response.status_code}")


def _quote(text: str) -> str:
    return quote(text, safe="")


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:MAX_BODY_CHARS]
