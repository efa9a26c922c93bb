"""Command-line interface: thin translation from arguments to services.

What belongs here: one module per command group, each parsing options, calling services and
printing through ``creditgraph.console``. No business rule lives here; a command that grows
logic moves it into the service it calls.
"""
