"""Identity resolution health: over-merging, fragmentation and orphan profiles.

The gauges move together, and which way they move tells the two failure modes apart:
over-merging raises the merge rate and lowers profiles per person; fragmentation lowers
the merge rate and raises profiles per person. A drop in match confidence fits both, so it
takes the kind of whatever else moved on the same identity graph (fragmentation when
nothing did: weaker identifiers are its usual cause).
"""

from __future__ import annotations

from collections import defaultdict

from tools.anomalies import Detection
from tools.detect.detectors.base import (
    DetectContext,
    Detector,
    Finding,
    MetricRule,
    finding_detection,
)
from tools.nodes import NodeRef

MERGE = MetricRule("identity.merge_rate", up="identity_overmerge",
                   down="identity_fragmentation", noun="identity merge rate", unit="ratio",
                   min_abs_change=0.0, min_rel_change=0.1)
FRAGMENTATION = MetricRule("identity.fragmentation_ratio", up="identity_fragmentation",
                           down="identity_overmerge", noun="profiles per person", unit="ratio",
                           min_abs_change=0.0, min_rel_change=0.03)
CONFIDENCE = MetricRule("identity.match_confidence", up=None, down="identity_fragmentation",
                        noun="identity match confidence", unit="ratio", min_abs_change=0.0,
                        min_rel_change=0.02)
ORPHANS = MetricRule("identity.orphan_profiles", up="orphan_profiles", down=None,
                     noun="orphan profiles", min_abs_change=10.0, min_rel_change=0.1)


class IdentityDetector(Detector):
    name = "identity"
    rules = (MERGE, FRAGMENTATION, CONFIDENCE, ORPHANS)

    def detect(self, ctx: DetectContext, findings: list[Finding]) -> list[Detection]:
        # What the unambiguous gauges say about each node.
        said: dict[NodeRef, set[str]] = defaultdict(set)
        for f in findings:
            if f.key.metric in (MERGE.metric, FRAGMENTATION.metric):
                kind = f.rule.kind(f.direction)
                if kind is not None:
                    said[f.key.node].add(kind)
        out = []
        for f in findings:
            kind = f.rule.kind(f.direction)
            if f.key.metric == CONFIDENCE.metric and kind is not None:
                others = said.get(f.key.node, set())
                if others == {"identity_overmerge"}:
                    kind = "identity_overmerge"
            det = finding_detection(f, kind)
            if det is not None:
                if kind != f.rule.kind(f.direction):
                    det.evidence = {**det.evidence, "kind_from": "co-moving identity gauges"}
                out.append(det)
        return out
