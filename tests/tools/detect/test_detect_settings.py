"""Detection settings: YAML file (explicit or $FLOWSLEUTH_DETECT_CONFIG), environment,
validation with errors that name the problem, and the overrides a series gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.detect.detectors.registry import DETECTORS, get_detector
from tools.detect.settings import (
    CONFIG_ENV,
    DETECTOR_NAMES,
    DetectSettingsError,
    load_detect_settings,
)
from tools.nodes import NodeRef

NODE = "dataset:snowflake://acme:analytics.staging.stg_web"
CONFIG = f"""
lookback: 21d
k_alert: 5
detectors:
  volume: {{min_rel_change: 0.25}}
  schema: {{enabled: false}}
  quality:
    metrics:
      data.null_fraction: {{min_abs_change: 0.1}}
nodes:
  "{NODE}":
    k_alert: 6
    disabled: [events]
"""


def test_file_settings_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "detect.yaml"
    path.write_text(CONFIG)
    settings = load_detect_settings(path)
    node, other = NodeRef.parse(NODE), NodeRef.dataset("x", "y")
    assert settings.lookback_us == 21 * 86_400_000_000
    assert not settings.enabled("schema") and settings.enabled("volume")
    assert not settings.enabled("events", node) and settings.enabled("events", other)
    assert settings.overrides("volume", "data.row_count", other) == {
        "k_alert": 5, "min_rel_change": 0.25}
    assert settings.overrides("quality", "data.null_fraction", node) == {
        "k_alert": 6, "min_abs_change": 0.1}


def test_environment_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "detect.yaml"
    path.write_text("lookback: 10d\n")
    monkeypatch.setenv(CONFIG_ENV, str(path))
    assert load_detect_settings().lookback == "10d"
    monkeypatch.delenv(CONFIG_ENV)
    monkeypatch.setenv("FLOWSLEUTH_DETECT_LOOKBACK", "14d")
    assert load_detect_settings().lookback == "14d"


@pytest.mark.parametrize(("text", "message"), [
    ("detectors: {volum: {enabled: false}}", r"unknown detector\(s\) \['volum'\]"),
    ("nodes: {orders: {k_alert: 5}}", "must look like 'dataset:<namespace>:<name>'"),
    (f'nodes: {{"{NODE}": {{disabled: [vol]}}}}', r"unknown detector\(s\) \['vol'\]"),
    ("k_alert: -1", "k_alert: Input should be greater than 0"),
    ("detectors: {volume: {min_rel_change: 1.5}}", "min_rel_change"),
    ("lookback: 2h", "lookback '2h' must be at least a day"),
    ("lookback: soon", "is not a duration"),
    ("[1, 2]", "expected a mapping at the top level"),
    ("a: [", "invalid YAML"),
    ("treshold: 3", "treshold: Extra inputs are not permitted"),
])
def test_bad_settings_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "detect.yaml"
    path.write_text(text)
    with pytest.raises(DetectSettingsError, match=message) as info:
        load_detect_settings(path)
    assert str(path) in str(info.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DetectSettingsError, match=r"cannot read .*nope\.yaml"):
        load_detect_settings(tmp_path / "nope.yaml")


def test_registry_matches_the_settings_names() -> None:
    assert tuple(d.name for d in DETECTORS) == DETECTOR_NAMES
    with pytest.raises(KeyError, match="unknown detector 'x'"):
        get_detector("x")
    metrics = [r.metric for d in DETECTORS for r in d.rules]
    assert len(metrics) == len(set(metrics)), "each metric is read by one detector"
