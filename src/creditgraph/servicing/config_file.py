"""Loading the servicing configuration file, apart from its model in ``servicing.config``.

The model stays free of file I/O so pure servicing code can import it; this module reads an
operator's file, or the packaged default ``servicing.toml``, through the shared loader.
"""

from __future__ import annotations

from pathlib import Path

from creditgraph import configfile
from creditgraph.servicing.config import (
    ServicingConfig,
    ServicingConfigError,
    parse_servicing_config,
)


def load_servicing_config(path: Path | None = None) -> ServicingConfig:
    """The configuration at ``path``, or the packaged ``catalogue/servicing.toml``."""
    return configfile.load(path, "servicing.toml", parse_servicing_config, ServicingConfigError)
