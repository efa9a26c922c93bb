"""Command-line interface: thin translation from arguments to services."""
