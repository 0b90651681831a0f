"""Executors: the only code that changes anything outside flowsleuth's own store."""

from tools.runbooks.executors.base import Executor, ExecutorRegistry, UnknownExecutorError
from tools.runbooks.executors.http import HttpExecutor
from tools.runbooks.executors.simulator import (
    InMemorySimulator,
    JournalEntry,
    SimulatorControl,
    SimulatorExecutor,
)
from tools.runbooks.executors.sql import SqlExecutor

__all__ = [
    "Executor",
    "ExecutorRegistry",
    "HttpExecutor",
    "InMemorySimulator",
    "JournalEntry",
    "SimulatorControl",
    "SimulatorExecutor",
    "SqlExecutor",
    "UnknownExecutorError",
]
