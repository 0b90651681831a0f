"""flowsleuth's investigator and the surfaces people use (CLI, web, Slack)."""
