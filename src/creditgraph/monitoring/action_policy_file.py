"""Loading the action policy: an operator's TOML file, or the packaged ``actions.toml``.

Kept apart from the model (``monitoring.action_policy``) so the model stays pure; reading and
parsing go through ``creditgraph.configfile`` like every other configuration.
"""

from __future__ import annotations

from pathlib import Path

from creditgraph import configfile
from creditgraph.monitoring.action_policy import (
    ActionPolicy,
    ActionPolicyError,
    parse_action_policy,
)
from creditgraph.settings import Settings

PACKAGED_NAME = "actions.toml"


def load_action_policy(path: Path | None = None) -> ActionPolicy:
    """The policy at ``path``, or the packaged default ``monitoring/actions.toml``."""
    return configfile.load_file_or_packaged(
        path, "creditgraph.monitoring", PACKAGED_NAME, parse_action_policy, ActionPolicyError
    )


def configured_action_policy(settings: Settings, path: Path | None = None) -> ActionPolicy:
    """The policy named on the command line (``path``), else by the setting
    ``CREDITGRAPH_MONITORING_ACTIONS_FILE``, else the packaged default."""
    return load_action_policy(path or settings.monitoring_actions_file)
