"""The command modules of the CLI; each module exposes ``register(app: typer.Typer) -> None``."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator

import typer

COMMAND_MODULES: tuple[str, ...] = (
    # one line per module; keep in the order they appear in --help
    "creditgraph.cli.simulate_cmd",
    "creditgraph.cli.ingest_cmd",
    "creditgraph.cli.demo_cmd",
    "creditgraph.cli.graph_cmd",
    "creditgraph.cli.features_cmd",
    "creditgraph.cli.privacy_cmd",
    "creditgraph.cli.consent_cmd",
    "creditgraph.cli.subject_cmd",
    "creditgraph.cli.lake_cmd",
    "creditgraph.cli.retention_cmd",
    "creditgraph.cli.schedule_cmd",
    "creditgraph.cli.model_cmd",
    "creditgraph.cli.score_cmd",
    "creditgraph.cli.backtest_cmd",
    "creditgraph.cli.decide_cmd",
    "creditgraph.cli.loan_cmd",
    "creditgraph.cli.ledger_cmd",
    "creditgraph.cli.servicing_cmd",
    "creditgraph.cli.events_cmd",
    "creditgraph.cli.monitor_cmd",
    "creditgraph.cli.monitor_run_cmd",
    "creditgraph.cli.audit_cmd",
    "creditgraph.cli.compliance_cmd",
    "creditgraph.cli.witness_cmd",
    "creditgraph.cli.keys_cmd",
    "creditgraph.cli.users_cmd",
    "creditgraph.cli.master_key_cmd",
    "creditgraph.cli.serve_cmd",
)


def registrars() -> Iterator[Callable[[typer.Typer], None]]:
    for name in COMMAND_MODULES:
        yield importlib.import_module(name).register
