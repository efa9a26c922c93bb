"""creditgraph: credit from social-network data, run end to end on one machine."""

__version__ = "0.1.0"
