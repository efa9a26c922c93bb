"""Loading the decision's configuration files: the product catalogue, the policy, the config.

Kept apart from the models (``products``, ``rules``, ``config``) so the decision engine, which
imports the models, never imports file I/O. Each loader reads an operator's file, or the packaged
default of that name, and validates it with the model's pure ``parse_*`` function.
"""

from __future__ import annotations

from pathlib import Path

from creditgraph import configfile
from creditgraph.decision.config import DecisionConfig, parse_config
from creditgraph.decision.errors import CatalogueError, PolicyError
from creditgraph.decision.products import Catalogue, parse_catalogue
from creditgraph.decision.rules import Policy, parse_policy


def load_catalogue(path: Path | None = None) -> Catalogue:
    """The catalogue at ``path``, or the packaged default ``catalogue/products.toml``."""
    return configfile.load(path, "products.toml", parse_catalogue, CatalogueError)


def load_policy(path: Path | None = None) -> Policy:
    """The policy at ``path``, or the packaged default ``catalogue/policy.toml``."""
    return configfile.load(path, "policy.toml", parse_policy, PolicyError)


def load_config(path: Path | None = None) -> DecisionConfig:
    """The configuration at ``path``, or the packaged default ``catalogue/config.toml``."""
    return configfile.load(path, "config.toml", parse_config, PolicyError)
