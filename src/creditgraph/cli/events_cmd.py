"""``creditgraph events ingest FILE.jsonl`` and ``events relay``: events onto the bus.

Thin: ``monitoring.event_file`` reads, validates, pseudonymises, gates and publishes; this module
draws progress and prints the counts by reason and the first refusals with their lines. Exit 2
when the file cannot be read, 3 when no event of the file was accepted (each refusal says why;
``--errors`` writes them all as JSON Lines).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import orjson
import typer
from rich.console import Console
from rich.table import Table

from creditgraph.settings import get_settings

console = Console()
err = Console(stderr=True)
events_app = typer.Typer(
    help="Monitoring events: the stream the real-time monitor watches.", no_args_is_help=True
)
SHOWN_ERRORS = 20


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")


@events_app.callback()
def _events() -> None:
    """Monitoring events (contract v1: docs/events.md)."""


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


@events_app.command("ingest")
def ingest_cmd(
    path: Path = typer.Argument(..., help="A JSON Lines file, one event per line."),
    errors_out: Path | None = typer.Option(
        None, "--errors", help="Write every refusal (line, field, rule, message) as JSON Lines."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Validate, pseudonymise and consent-gate a file of events, then publish the good ones."""
    from creditgraph.console.display import print_table
    from creditgraph.console.progress import RowProgress
    from creditgraph.monitoring.bus_factory import BusConfigError, bus_for
    from creditgraph.monitoring.door import Door
    from creditgraph.monitoring.event_file import EventFileError, ingest_event_file
    from creditgraph.monitoring.outbox import OutboxBus
    from creditgraph.store.db import migrated_engine

    settings = get_settings()
    try:
        total = sum(1 for line in path.open("rb") if line.strip()) if path.is_file() else None
    except OSError:
        total = None
    try:
        with migrated_engine(settings.database_url) as engine:
            bus = bus_for(settings, engine)
            outbox = isinstance(bus, OutboxBus)
            done = 0
            with RowProgress(err) as bars:

                def progress(rows: int) -> None:
                    nonlocal done
                    done += rows
                    bars.update("events", done, total)

                result = ingest_event_file(
                    engine,
                    Door.from_settings(settings),
                    path,
                    bus=None if outbox else bus,
                    progress=progress,
                )
    except (EventFileError, BusConfigError) as exc:
        raise _fail(str(exc)) from None
    if errors_out is not None:
        with errors_out.open("wb") as handle:
            for entry in result.errors:
                handle.write(orjson.dumps(entry) + b"\n")
    if as_json:
        console.print_json(orjson.dumps(result.as_dict()).decode())
    else:
        table = Table(title=f"events ingest: {path.name}")
        table.add_column("outcome")
        table.add_column("events", justify="right")
        table.add_row("accepted", f"{result.accepted:,}")
        for reason, count in sorted(result.refused.items()):
            table.add_row(f"refused: {reason}", f"{count:,}")
        print_table(console, table)
        for entry in result.errors[:SHOWN_ERRORS]:
            err.print(
                f"line {entry['line']}: {entry['field'] or '-'}: {entry['rule']}: "
                f"{entry['message']}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        hidden = len(result.errors) - SHOWN_ERRORS
        if hidden > 0:
            err.print(f"... and {hidden:,} more (--errors FILE writes them all)", markup=False)
    if result.lines and not result.accepted:
        raise typer.Exit(3)


@events_app.command("relay")
def relay_cmd(
    until_idle: bool = typer.Option(
        False, "--until-idle", help="Stop when the outbox has nothing more to relay."
    ),
) -> None:
    """Move servicing's events from the outbox to Redis Streams (when monitors run on Redis)."""
    from creditgraph.monitoring.bus_factory import REDIS_SCHEMES
    from creditgraph.monitoring.outbox import OutboxBus
    from creditgraph.monitoring.redis_bus import RedisStreamsBus
    from creditgraph.monitoring.relay import Relay
    from creditgraph.store.db import migrated_engine

    settings = get_settings()
    url = settings.event_bus_url
    if not url or not url.startswith(REDIS_SCHEMES):
        raise _fail(
            "the relay moves the outbox's events to Redis Streams: set CREDITGRAPH_EVENT_BUS_URL "
            "to a redis:// URL (with the embedded outbox the monitor reads servicing's events "
            "directly)"
        )
    with migrated_engine(settings.database_url) as engine:
        relay = Relay(OutboxBus(engine), RedisStreamsBus.from_url(url))
        with err.status("relaying the outbox to Redis Streams") as status:

            def stop() -> bool:
                status.update(f"relayed {relay.relayed:,} events")
                return False

            with contextlib.suppress(KeyboardInterrupt):
                relay.run(until_idle=until_idle, stop=stop)
    console.print(f"relayed {relay.relayed:,} events to Redis Streams")
