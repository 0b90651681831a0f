"""Operator pages: login, the approval queue, incidents, KPIs (server-rendered Jinja2).

Every rule about who may decide what lives in :mod:`tools.runbooks`; these handlers only
check the session and CSRF token, call it, and show its answer (a refusal included).
Approving resumes the paused investigation through :func:`agent.approvals.apply_decision`,
the same call the CLI makes, and only for the one decision that ``won``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, FastAPI, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from agent.web.auth import (
    SESSION_COOKIE,
    Sessions,
    WebUser,
    check_password,
    csrf_ok,
    same_token,
)
from agent.web.incident_view import incident_context
from agent.web.kpis import compute_kpis
from tools.incidents import UnknownIncidentError, get_incident, list_incidents
from tools.runbooks import (
    NotAllowedError,
    UnknownProposalError,
    approve,
    default_executors,
    expire_stale,
    list_proposals,
    reject,
)
from tools.runbooks.executors import ExecutorRegistry
from tools.runbooks.roles import ApproverDirectory, DirectoryError
from tools.store.db import Store

HERE = Path(__file__).resolve().parent
LOGIN_CSRF_COOKIE = "flowsleuth_login_csrf"
PENDING = ("proposed",)
# Ids the store can hold (PostgreSQL INTEGER): a larger one overflowed inside the database
# (a 500) instead of being refused.
RowId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


class Pages:
    def __init__(
        self,
        store: Store,
        users: dict[str, WebUser],
        directory: ApproverDirectory,
        sessions: Sessions,
        clock: Callable[[], int],
        executors: Callable[[], ExecutorRegistry],
    ) -> None:
        self.store = store
        self.users = users
        self.directory = directory
        self.sessions = sessions
        self.clock = clock
        self.executors = executors
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
        )

    def render(self, template: str, http_status: int = 200, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(self.env.get_template(template).render(**ctx), status_code=http_status)

    def session(self, request: Request) -> dict[str, str] | None:
        data = self.sessions.read(request.cookies.get(SESSION_COOKIE))
        if data is None or data["user"] not in self.users:
            return None
        return data


async def _form(request: Request) -> dict[str, str]:
    # Parsed by hand so the pages need no python-multipart; forms here are urlencoded.
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/ui/login?next={quote(request.url.path)}", status_code=303)


def build_router(pages: Pages) -> APIRouter:
    router = APIRouter(prefix="/ui", include_in_schema=False)

    def base(request: Request, session: dict[str, str]) -> dict[str, Any]:
        return {
            "user": session["user"],
            "roles": pages.directory.roles_of(session["user"]),
            "csrf": session["csrf"],
            "flash": request.query_params.get("msg"),
            "error": request.query_params.get("err"),
        }

    async def guard(request: Request) -> dict[str, str] | Response:
        """The session of a state-changing request, or the response refusing it."""
        session = pages.session(request)
        if session is None:
            return Response("log in first", status_code=401)
        form = await _form(request)
        if not csrf_ok(session, form.get("csrf")):
            return Response("missing or wrong CSRF token", status_code=403)
        if any("\x00" in k or "\x00" in v for k, v in form.items()):
            # A reason is stored as text, which PostgreSQL refuses to hold a NUL in (a 500).
            return Response("form fields may not contain NUL characters", status_code=400)
        return {**session, **{f"form.{k}": v for k, v in form.items()}}

    @router.get("/login")
    def login_page(request: Request, next: str = "/ui/approvals") -> Response:
        token = secrets.token_urlsafe(24)
        resp = pages.render("login.html", csrf=token, next=next, error=None, user=None)
        resp.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=pages.sessions.secure_for(request.url.scheme),
        )
        return resp

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await _form(request)
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not same_token(cookie, form.get("csrf")):
            return Response("missing or wrong CSRF token", status_code=403)
        name, password = form.get("username", ""), form.get("password", "")
        user = pages.users.get(name)
        if user is None or not check_password(password, user.password):
            return pages.render(
                "login.html",
                401,
                csrf=cookie,
                next=form.get("next"),
                error="wrong name or password",
                user=None,
            )
        target = form.get("next") or "/ui/approvals"
        if not target.startswith("/ui/"):
            target = "/ui/approvals"  # no open redirects off the site
        resp = RedirectResponse(target, status_code=303)
        resp.set_cookie(
            SESSION_COOKIE,
            pages.sessions.issue(name),
            httponly=True,
            samesite="lax",
            secure=pages.sessions.secure_for(request.url.scheme),
        )
        resp.delete_cookie(LOGIN_CSRF_COOKIE)
        return resp

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        checked = await guard(request)
        if isinstance(checked, Response):
            return checked
        resp = RedirectResponse("/ui/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE)
        return resp

    @router.get("/")
    def home() -> Response:
        return RedirectResponse("/ui/approvals", status_code=303)

    @router.get("/approvals")
    def approvals(request: Request) -> Response:
        session = pages.session(request)
        if session is None:
            return _login_redirect(request)
        expire_stale(pages.store, pages.clock())
        proposals = list_proposals(pages.store, limit=200)
        return pages.render(
            "approvals.html",
            **base(request, session),
            pending=[p for p in proposals if p.status in PENDING],
            decided=[p for p in proposals if p.status not in PENDING],
        )

    async def decide(request: Request, proposal_id: int, outcome: str) -> Response:
        checked = await guard(request)
        if isinstance(checked, Response):
            return checked
        user, reason = checked["user"], checked.get("form.reason", "").strip() or None
        act = approve if outcome == "approve" else reject
        try:
            decision = act(
                pages.store,
                proposal_id,
                user,
                reason,
                directory=pages.directory,
                now_us=pages.clock(),
            )
        except NotAllowedError as exc:
            return _back(f"refused: {exc}", error=True, status=403)
        except (UnknownProposalError, DirectoryError) as exc:
            return _back(str(exc), error=True, status=404)
        message = decision.message
        if decision.won:
            # Imported here: it pulls in LangGraph, which would slow every server start.
            from agent.approvals import ResumeError, settle_decision

            try:
                applied = settle_decision(
                    pages.store, decision, pages.executors, actor=user, now_us=pages.clock()
                )
            except ResumeError as exc:
                return _back(f"{message}; the investigation was not resumed: {exc}", error=True)
            if applied is not None:
                message = f"{message}; {applied.status}: {applied.message}"
        return _back(message, error=not decision.won)

    @router.post("/approvals/{proposal_id}/approve")
    async def approve_route(request: Request, proposal_id: RowId) -> Response:
        return await decide(request, proposal_id, "approve")

    @router.post("/approvals/{proposal_id}/reject")
    async def reject_route(request: Request, proposal_id: RowId) -> Response:
        return await decide(request, proposal_id, "reject")

    @router.get("/incidents")
    def incidents(request: Request, status: str | None = None) -> Response:
        session = pages.session(request)
        if session is None:
            return _login_redirect(request)
        views = list_incidents(pages.store, status=status or None)
        return pages.render(
            "incidents.html", **base(request, session), incidents=views, status=status
        )

    @router.get("/incidents/{incident_id}")
    def incident(request: Request, incident_id: RowId) -> Response:
        session = pages.session(request)
        if session is None:
            return _login_redirect(request)
        try:
            view = get_incident(pages.store, incident_id)
        except UnknownIncidentError as exc:
            return Response(str(exc), status_code=404)
        ctx = incident_context(pages.store, view)
        proposals = list_proposals(pages.store, incident_id=incident_id)
        return pages.render("incident.html", **base(request, session), **ctx, proposals=proposals)

    @router.get("/kpis")
    def kpis(request: Request) -> Response:
        session = pages.session(request)
        if session is None:
            return _login_redirect(request)
        return pages.render(
            "kpis.html", **base(request, session), kpis=compute_kpis(pages.store, pages.clock())
        )

    return router


def _back(message: str, *, error: bool = False, status: int = 303) -> Response:
    key = "err" if error else "msg"
    if status != 303:
        # A refusal keeps its status code (tests and scripts check it) and links back.
        return HTMLResponse(
            f'<p class="error">{escape(message)}</p><p><a href="/ui/approvals">back</a></p>',
            status_code=status,
        )
    return RedirectResponse(f"/ui/approvals?{key}={quote(message)}", status_code=303)


def mount_pages(
    app: FastAPI,
    store: Store,
    users: dict[str, WebUser],
    directory: ApproverDirectory,
    *,
    clock: Callable[[], int],
    sessions: Sessions | None = None,
    executors: Callable[[], ExecutorRegistry] = default_executors,
) -> Pages:
    pages = Pages(store, users, directory, sessions or Sessions(), clock, executors)
    app.include_router(build_router(pages))
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    return pages
