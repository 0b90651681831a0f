"""Evaluation suites that score flowsleuth's detection and investigation."""
