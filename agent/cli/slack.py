"""``flowsleuth slack ...``: the Slack app's work outside ``flowsleuth serve``.

``sync`` posts or edits the incident messages once (``serve`` does it on a timer; run
this from cron when the server runs elsewhere or not at all). ``check`` verifies the
configuration and the bot token against Slack (``auth.test``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from agent.cli.context import console, fail, print_json, state

if TYPE_CHECKING:
    from agent.slack.settings import SlackSettings

app = typer.Typer(help="The Slack app: incident messages and configuration checks.")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="slack")


def _settings() -> SlackSettings:
    from agent.slack.settings import SlackConfigError, load_slack_settings

    try:
        settings = load_slack_settings()
    except SlackConfigError as exc:
        fail(str(exc))
        raise
    if not settings.enabled:
        fail("Slack is not configured: set FLOWSLEUTH_SLACK_BOT_TOKEN (see the README)")
    return settings


@app.command("sync")
def sync_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Post a message for each open incident not yet announced and edit those whose
    incident changed (a decision, a new symptom, a resolution)."""
    from agent.slack.notifier import IncidentNotifier, web_client

    settings = _settings()
    st = state(ctx)
    notifier = IncidentNotifier(st.store, web_client(settings), settings, clock=lambda: st.now_us)
    report = notifier.sync()
    if as_json:
        print_json(
            {
                "posted": report.posted,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "skipped": report.skipped,
                "failed": report.failed,
            }
        )
    else:
        console.print(
            f"posted {len(report.posted)}, updated {len(report.updated)}, "
            f"unchanged {len(report.unchanged)}"
        )
        for incident_id, why in {**report.skipped, **report.failed}.items():
            console.print(f"  incident #{incident_id}: {escape(why)}")
    if report.failed:
        raise typer.Exit(1)


@app.command("check")
def check_cmd() -> None:
    """Check the Slack settings and that Slack accepts the bot token."""
    from slack_sdk.errors import SlackApiError

    from agent.slack.notifier import web_client

    settings = _settings()
    client = web_client(settings)
    try:
        who = client.auth_test()
    except SlackApiError as exc:
        fail(f"Slack refused the bot token: {exc.response.get('error')}")
        raise
    modes = (["HTTP (/slack/events)"] if settings.signing_secret else []) + (
        ["Socket Mode"] if settings.socket_mode else []
    )
    console.print(
        f"bot {escape(str(who.get('user_id')))} in team {escape(str(who.get('team_id')))}; "
        f"mode: {' and '.join(modes)}; {len(settings.channels)} owner channel(s), default "
        f"{escape(settings.default_channel or 'none')}; {len(settings.users)} mapped user(s)"
    )
