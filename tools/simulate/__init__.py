"""A MarTech pipeline simulator: a realistic stack, its normal telemetry, injected faults.

Everything comes out in the wire formats of TELEMETRY.md (OpenLineage RunEvents, OTLP/JSON
metrics, traces and logs, the catalog YAML) so it goes through the same ingestion as a
real deployment, with the ground truth of every injected fault beside it::

    from tools.simulate import FaultSpec, SimConfig, write_simulation
    config = SimConfig(end=datetime(2025, 3, 10, tzinfo=UTC),
                       scenarios=[FaultSpec("expired_vendor_token")])
    summary = write_simulation(config, Path("sim"))
"""

from tools.simulate.config import FaultSpec, SimConfig, SimConfigError
from tools.simulate.engine import Payload, Simulation, simulate
from tools.simulate.faults import FAULT_KINDS, ScenarioInfo, list_scenarios
from tools.simulate.output import SendError, SimSummary, send_simulation, write_simulation
from tools.simulate.stack import Dataset, Job, Topology
from tools.simulate.topology import build_topology

__all__ = [
    "FAULT_KINDS",
    "Dataset",
    "FaultSpec",
    "Job",
    "Payload",
    "ScenarioInfo",
    "SendError",
    "SimConfig",
    "SimConfigError",
    "SimSummary",
    "Simulation",
    "Topology",
    "build_topology",
    "list_scenarios",
    "send_simulation",
    "simulate",
    "write_simulation",
]
