"""Placeholders: dotted paths only, types kept, missing names are clear errors."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tools.runbooks.templating import TemplateError, placeholders, render

VARS = {
    "root_cause": {"node": "job:airflow:load", "namespace": "postgres://db:5432"},
    "owners": ["a", "b"],
    "confidence": 0.9,
    "at_risk": [{"owner": "crm"}],
    "window": None,
}


def test_whole_placeholder_keeps_type_and_text_is_substituted() -> None:
    assert render("{{ owners }}", VARS) == ["a", "b"]
    assert render({"x": ["{{ confidence }}"]}, VARS) == {"x": [0.9]}
    assert render("retry {{ root_cause.node }} for {{ at_risk.0.owner }}", VARS) == (
        "retry job:airflow:load for crm"
    )


def test_missing_and_empty_names_are_errors_naming_the_path() -> None:
    with pytest.raises(TemplateError, match=r"no 'root_cause\.missing'"):
        render("{{ root_cause.missing }}", VARS)
    with pytest.raises(TemplateError, match="'window' is empty"):
        render("{{ window.start }}", VARS)
    with pytest.raises(TemplateError, match=r"no 'at_risk\.3'"):
        render("{{ at_risk.3.owner }}", VARS)
    with pytest.raises(TemplateError, match="structure"):
        render("owners: {{ owners }}", VARS)


def test_code_is_not_a_placeholder() -> None:
    with pytest.raises(TemplateError, match="not a dotted path"):
        list(placeholders("{{ __import__('os').system('x') }}"))
    with pytest.raises(TemplateError, match="not a dotted path"):
        render("{{ owners | join }}", VARS)


def test_kept_roots_and_escaping() -> None:
    assert render("{{ prior.status }}", VARS, keep_roots=frozenset({"prior"})) == (
        "{{ prior.status }}"
    )
    path = render("/x/{{ root_cause.namespace }}", VARS, escape=lambda s: quote(s, safe=""))
    assert path == "/x/postgres%3A%2F%2Fdb%3A5432"
