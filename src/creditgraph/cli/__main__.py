"""``python -m creditgraph.cli`` runs the command line."""

from creditgraph.cli.main import app

app()
