"""Loading the action policy: an operator's TOML file, or the packaged ``actions.toml``.

Kept apart from the model (``monitoring.action_policy``) so the model stays pure; reading and
parsing go through ``creditgraph.configfile`` like every other configuration.
"""

from __future__ import annotations

from importlib import resources
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
    if path is not None:
        return configfile.load(path, PACKAGED_NAME, parse_action_policy, ActionPolicyError)
    packaged = resources.files("creditgraph.monitoring").joinpath(PACKAGED_NAME)
    with resources.as_file(packaged) as packaged_path:
        return configfile.load(packaged_path, PACKAGED_NAME, parse_action_policy, ActionPolicyError)


def configured_action_policy(settings: Settings, path: Path | None = None) -> ActionPolicy:
    """The policy named on the command line (``path``), else by the setting
    ``CREDITGRAPH_MONITORING_ACTIONS_FILE``, else the packaged default."""
    return load_action_policy(path or settings.monitoring_actions_file)
