"""``python -m agent`` is the ``flowsleuth`` command."""

from agent.cli import main

main()
