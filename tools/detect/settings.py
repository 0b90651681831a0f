"""How sensitive each detector is, globally, per detector, per metric and per node.

Settings come from the environment (``FLOWSLEUTH_DETECT_*``) and from a YAML file named by
``FLOWSLEUTH_DETECT_CONFIG`` (or passed explicitly); the file wins over the environment::

    lookback: 35d            # history each detection run reads
    k_alert: 4.5             # robust z-score that raises an alert (every series)
    detectors:
      volume: {min_rel_change: 0.25}
      schema: {enabled: false}
      quality:
        metrics:
          data.null_fraction: {min_abs_change: 0.05}
    nodes:
      "dataset:snowflake://acme:analytics.staging.stg_web_events":
        k_alert: 6
        disabled: [volume]

A setting left out keeps the detector's own default (each metric rule carries floors suited
to its unit: fractions move in percentage points, row counts in relative terms).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tools.nodes import NodeIdError, NodeRef
from tools.timeutil import parse_duration_us

CONFIG_ENV = "FLOWSLEUTH_DETECT_CONFIG"
DETECTOR_NAMES = (
    "freshness",
    "jobs",
    "volume",
    "quality",
    "schema",
    "events",
    "identity",
    "activation",
    "changes",
    "slo",
)


class DetectSettingsError(ValueError):
    """A detection settings file or value that cannot be used; the message says where."""


class Sensitivity(BaseModel):
    """Overrides of the numeric core's alert threshold and minimum-change floors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k_alert: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    min_abs_change: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    min_rel_change: float | None = Field(default=None, ge=0, lt=1, allow_inf_nan=False)

    def overrides(self) -> dict[str, float]:
        """The sensitivity fields that are set (not enabled/disabled/metrics)."""
        fields = ("k_alert", "min_abs_change", "min_rel_change")
        return {k: getattr(self, k) for k in fields if getattr(self, k) is not None}


class DetectorSettings(Sensitivity):
    enabled: bool = True
    metrics: dict[str, Sensitivity] = Field(default_factory=dict)


class NodeSettings(Sensitivity):
    disabled: list[str] = Field(default_factory=list)

    @field_validator("disabled")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(DETECTOR_NAMES))
        if unknown:
            raise ValueError(f"unknown detector(s) {unknown}; known: {', '.join(DETECTOR_NAMES)}")
        return value


class DetectSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWSLEUTH_DETECT_", extra="forbid")

    lookback: str = "35d"
    k_alert: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    detectors: dict[str, DetectorSettings] = Field(default_factory=dict)
    nodes: dict[str, NodeSettings] = Field(default_factory=dict)

    @field_validator("lookback")
    @classmethod
    def _lookback(cls, value: str) -> str:
        if parse_duration_us(value) < 86_400_000_000:
            raise ValueError(f"lookback {value!r} must be at least a day")
        return value

    @field_validator("detectors")
    @classmethod
    def _detectors(cls, value: dict[str, DetectorSettings]) -> dict[str, DetectorSettings]:
        unknown = sorted(set(value) - set(DETECTOR_NAMES))
        if unknown:
            raise ValueError(f"unknown detector(s) {unknown}; known: {', '.join(DETECTOR_NAMES)}")
        return value

    @field_validator("nodes")
    @classmethod
    def _nodes(cls, value: dict[str, NodeSettings]) -> dict[str, NodeSettings]:
        out = {}
        for text, node in value.items():
            try:
                out[str(NodeRef.parse(text))] = node
            except NodeIdError as exc:
                raise ValueError(str(exc)) from None
        return out

    @property
    def lookback_us(self) -> int:
        return parse_duration_us(self.lookback)

    def enabled(self, detector: str, node: NodeRef | None = None) -> bool:
        own = self.detectors.get(detector)
        if own is not None and not own.enabled:
            return False
        if node is not None:
            per_node = self.nodes.get(str(node))
            if per_node is not None and detector in per_node.disabled:
                return False
        return True

    def overrides(self, detector: str, metric: str, node: NodeRef) -> dict[str, float]:
        """DetectorConfig fields to override for one series, most specific last."""
        out: dict[str, float] = {}
        if self.k_alert is not None:
            out["k_alert"] = self.k_alert
        own = self.detectors.get(detector)
        if own is not None:
            out.update(own.overrides())
            per_metric = own.metrics.get(metric)
            if per_metric is not None:
                out.update(per_metric.overrides())
        per_node = self.nodes.get(str(node))
        if per_node is not None:
            out.update(per_node.overrides())
        return out


def _problems(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        ctx = err.get("ctx") or {}
        message = str(ctx["error"]) if err["type"] == "value_error" and "error" in ctx \
            else err["msg"]
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def load_detect_settings(path: Path | str | None = None) -> DetectSettings:
    """Settings from ``path``, else from the file in $FLOWSLEUTH_DETECT_CONFIG, else defaults
    (plus FLOWSLEUTH_DETECT_* variables). Raises DetectSettingsError naming the problem."""
    chosen = path if path is not None else os.environ.get(CONFIG_ENV) or None
    data: dict[str, Any] = {}
    where = "detection settings"
    if chosen is not None:
        where = str(chosen)
        try:
            text = Path(chosen).read_text(encoding="utf-8")
        except OSError as exc:
            raise DetectSettingsError(f"cannot read {where}: {exc.strerror or exc}") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise DetectSettingsError(f"{where}: invalid YAML: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise DetectSettingsError(f"{where}: expected a mapping at the top level")
        data = loaded
    try:
        return DetectSettings(**data)
    except ValidationError as exc:
        raise DetectSettingsError(f"{where}: {_problems(exc)}") from None


__all__ = [
    "CONFIG_ENV",
    "DETECTOR_NAMES",
    "DetectSettings",
    "DetectSettingsError",
    "DetectorSettings",
    "NodeSettings",
    "Sensitivity",
    "load_detect_settings",
]
