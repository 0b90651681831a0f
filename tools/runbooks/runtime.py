"""The executors a deployment has, built from its secrets (env or secret files)."""

from __future__ import annotations

from tools.runbooks.executors import (
    ExecutorRegistry,
    HttpExecutor,
    SimulatorControl,
    SimulatorExecutor,
    SqlExecutor,
)
from tools.runbooks.secrets import EnvSecrets, Secrets


def default_executors(
    secrets: Secrets | None = None, *, simulator: SimulatorControl | None = None
) -> ExecutorRegistry:
    """HTTP and SQL executors reading targets from ``secrets``; the simulator if given."""
    vault = secrets or EnvSecrets()
    registry = ExecutorRegistry([HttpExecutor(vault), SqlExecutor(secrets=vault)])
    if simulator is not None:
        registry.add(SimulatorExecutor(simulator))
    return registry
