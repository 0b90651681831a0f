"""The LangGraph investigation: evidence, root cause, explanation, proposals, approval."""

from agent.graph.build import build_graph
from agent.graph.checkpoint import CheckpointConfigError, checkpoint_target, open_checkpointer
from agent.graph.run import AgentResult, investigate_incident, result_of, thread_config
from agent.graph.state import AgentDeps, InvestigationState

__all__ = [
    "AgentDeps",
    "AgentResult",
    "CheckpointConfigError",
    "InvestigationState",
    "build_graph",
    "checkpoint_target",
    "investigate_incident",
    "open_checkpointer",
    "result_of",
    "thread_config",
]
