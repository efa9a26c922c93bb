"""Loading the monitoring configuration: an operator's TOML file, or the packaged default.

Kept apart from the model (``monitoring.config``) so the detectors, which import the model, never
import file I/O. The packaged default is ``monitoring/monitoring.toml`` (package data); reading
and parsing go through ``creditgraph.configfile`` like every other configuration.
"""

from __future__ import annotations

from pathlib import Path

from creditgraph import configfile
from creditgraph.monitoring.config import (
    MonitoringConfig,
    MonitoringConfigError,
    parse_monitoring_config,
)

PACKAGED_NAME = "monitoring.toml"


def load_monitoring_config(path: Path | None = None) -> MonitoringConfig:
    """The configuration at ``path``, or the packaged default ``monitoring/monitoring.toml``."""
    return configfile.load_file_or_packaged(
        path,
        "creditgraph.monitoring",
        PACKAGED_NAME,
        parse_monitoring_config,
        MonitoringConfigError,
    )
