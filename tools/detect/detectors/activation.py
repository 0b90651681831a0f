"""Reverse-ETL and destination health: sync success, vendor error codes, webhook latency,
audience deliveries.

Besides the scored series, an error code a destination has never returned before is a
signal on its own (an expired token shows up as a brand new ``401``): its series is too
young for any baseline, so it is reported from its first non-zero count.
"""

from __future__ import annotations

from collections import defaultdict

from tools.anomalies import Detection
from tools.detect.detectors.base import (
    DAY_US,
    DetectContext,
    Detector,
    Finding,
    MetricRule,
    fmt,
    round6,
    short_time,
)
from tools.detect.signals import Series, SeriesKey
from tools.nodes import NodeRef
from tools.timeutil import iso

SUCCESS = MetricRule("activation.sync.success_ratio", up=None, down="sync_failure",
                     noun="sync success ratio to {destination}", unit="fraction",
                     min_abs_change=0.02, min_rel_change=0.0)
ERRORS = MetricRule("activation.sync.errors", up="sync_failure", down=None,
                    noun="sync errors with code {error_code}", min_abs_change=5.0,
                    min_rel_change=0.5)
WEBHOOK = MetricRule("activation.webhook.latency", up="webhook_latency", down=None,
                     noun="webhook latency p{quantile}", unit="ms", min_abs_change=20.0,
                     min_rel_change=0.25)
DELIVERY = MetricRule("activation.delivery.variance", up="delivery_variance",
                      down="delivery_variance", noun="delivery variance of {campaign}",
                      unit="fraction", min_abs_change=0.05, min_rel_change=0.0)

# A code is new when the destination reported errors for this long without it...
NEW_CODE_HISTORY_US = 2 * DAY_US
# ...and stays new (reported as such) for this long after it first appeared.
NEW_CODE_WINDOW_US = 3 * DAY_US
# A new code rejecting at least this share of the audience is high severity.
NEW_CODE_HIGH_SHARE = 0.01


class ActivationDetector(Detector):
    name = "activation"
    rules = (SUCCESS, ERRORS, WEBHOOK, DELIVERY)

    def detect(self, ctx: DetectContext, findings: list[Finding]) -> list[Detection]:
        out = super().detect(ctx, findings)
        scored = {f.key for f in findings}
        out.extend(d for d in new_error_codes(ctx.series, ctx.at_us)
                   if SeriesKey(d.node, ERRORS.metric, tuple(sorted(d.attributes.items())))
                   not in scored)
        return out


def new_error_codes(series: list[Series], at_us: int) -> list[Detection]:
    """Error codes a destination started returning recently, after days without them."""
    errors: dict[NodeRef, list[Series]] = defaultdict(list)
    sizes: dict[NodeRef, float] = {}
    for s in series:
        if s.key.metric == ERRORS.metric:
            errors[s.key.node].append(s)
        elif s.key.metric == "activation.audience.size" and s.values.size:
            sizes[s.key.node] = float(s.values[-1])
    out = []
    for node, group in errors.items():
        history_from = min(int(s.ts_us[0]) for s in group)
        for s in group:
            nonzero = s.values > 0
            if not nonzero.any():
                continue
            first = int(s.ts_us[nonzero.argmax()])
            # Only codes absent until recently: an old code back after a quiet spell is
            # the scored series' business.
            if int(s.ts_us[0]) - history_from < NEW_CODE_HISTORY_US:
                continue
            if at_us - first > NEW_CODE_WINDOW_US:
                continue
            latest = float(s.values[-1])
            code = s.key.attrs.get("error.code", "?")
            size = sizes.get(node)
            share = latest / size if size else None
            high = share is not None and share >= NEW_CODE_HIGH_SHARE
            share_text = f" ({fmt(share, 'fraction')} of the audience)" if share else ""
            out.append(Detection(
                node=node,
                kind="sync_failure",
                metric=ERRORS.metric,
                attributes=s.key.attrs,
                onset_us=first,
                score=round(max(1.0, latest), 3),
                severity="high" if high else "medium",
                summary=(f"new error code {code} from the destination: {fmt(latest)} errors in "
                         f"the latest sync{share_text}, first seen {short_time(first)}"),
                observed=latest,
                expected=0.0,
                lower=0.0,
                upper=0.0,
                evidence={
                    "reason": "new error code",
                    "first_seen": iso(first),
                    "errors_reported_since": iso(history_from),
                    "points": [[iso(int(t)), round6(float(v))]
                               for t, v in zip(s.ts_us[-48:], s.values[-48:], strict=True)],
                },
            ))
    return out
