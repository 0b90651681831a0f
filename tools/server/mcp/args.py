"""Argument types the tools share, with the descriptions an assistant reads."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

NodeArg = Annotated[
    str,
    Field(
        description=(
            "Asset id as 'dataset:<namespace>:<name>' or 'job:<namespace>:<name>', e.g. "
            "'dataset:snowflake://acme:analytics.marts.fct_orders' (see list_assets)"
        ),
        min_length=3,
        max_length=2048,
    ),
]
OptionalNodeArg = Annotated[
    str | None,
    Field(description="Only this asset ('dataset:<ns>:<name>' or 'job:<ns>:<name>')"),
]
SinceArg = Annotated[
    str | None,
    Field(description="Start of the time range: ISO 8601 ('2026-03-01T00:00:00Z') or a "
          "duration back from now ('2h', '7d')"),
]
UntilArg = Annotated[
    str | None,
    Field(description="End of the time range: ISO 8601 or a duration back from now"),
]
OffsetArg = Annotated[
    int,
    Field(ge=0, le=1_000_000, description="Skip this many items (use page.next_offset)"),
]


LimitArg = Annotated[int, Field(ge=1, le=500, description="At most this many items (<= 500)")]
IncidentArg = Annotated[int, Field(ge=1, description="Incident id (see list_incidents)")]
ProposalArg = Annotated[int, Field(ge=1, description="Proposal id (see list_proposals)")]
