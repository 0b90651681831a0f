"""A MarTech stack as OpenLineage sees it: datasets and the jobs between them.

One *unit* (a brand in a region) is the classic customer-data pipeline: file drops and
event streams land in the warehouse through staging models, marts feed an identity
resolution job (fan-in), whose unified profiles feed audiences (fan-out), which reverse-ETL
syncs push to ad and email platforms where campaigns earn revenue. Larger stacks
replicate units across brands and regions; consent exports are shared by every brand of a
region, so the graph is not just disjoint copies. Everything is a pure function of the
seed and the size.
"""

from __future__ import annotations

import math

from tools.simulate import rand
from tools.simulate.config import MIN_SIZE, SimConfigError
from tools.simulate.stack import Topology, Unit
from tools.simulate.templates import AUDIENCES, BRANDS, REGIONS, AudienceTemplate
from tools.simulate.units import UnitBuilder, UnitPlan, plan_unit

UNIT_TARGET = 55  # nodes per brand-region unit in large stacks


def build_topology(seed: int, size: int) -> Topology:
    """A deterministic MarTech stack of about ``size`` nodes (datasets plus jobs).

    Sizes from 12 up: the smallest is one event stream through identity to one audience,
    sync and campaign; each step up adds sources, marts, audiences and destinations, and
    beyond one unit's worth (~55) whole brand-region units are replicated.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_SIZE:
        raise SimConfigError(f"size must be an integer of at least {MIN_SIZE}, got {size!r}")
    n_units = max(1, round(size / UNIT_TARGET))
    builder = UnitBuilder(seed)
    units: list[Unit] = []
    for u in range(n_units):
        budget = size // n_units + (1 if u < size % n_units else 0)
        brand, region, offset = _unit_name(u)
        key = rand.key_of(seed, f"unit|{u}")
        scale = 1.0 if u == 0 else min(5.0, max(0.1, math.exp(0.6 * rand.normal(key, 1))))
        plan: UnitPlan = plan_unit(
            budget, shuffle_key=key if u else None, shared_consent=builder.has_consent(region)
        )
        units.append(builder.build(u, brand, region, offset, scale, plan))
    return Topology(seed, size, builder.datasets, builder.jobs, units)


def _unit_name(u: int) -> tuple[str, str, int]:
    region, offset = REGIONS[u % len(REGIONS)]
    b = u // len(REGIONS)
    brand = BRANDS[b % len(BRANDS)]
    if b >= len(BRANDS):
        brand = f"{brand}{b // len(BRANDS) + 1}"
    return brand, region, offset


def audience_template(name: str) -> AudienceTemplate:
    for tpl in AUDIENCES:
        if tpl.name == name:
            return tpl
    raise KeyError(name)
