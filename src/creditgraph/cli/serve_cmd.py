"""``creditgraph serve``: the HTTP API on uvicorn, one worker.

uvicorn's own access log is off: it writes full paths with query strings. The app logs method,
route template, status, time and key id instead (``creditgraph.api.access``).
"""

from __future__ import annotations

from typing import Any

import typer

from creditgraph.settings import get_settings


def log_config() -> dict[str, Any]:
    """uvicorn's logging with our access logger in its place."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "default": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "creditgraph.api": {"handlers": ["default"], "level": "INFO", "propagate": False},
        },
    }


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    access_log: bool = typer.Option(
        True, "--access-log/--no-access-log", help="Log each request (no query strings or bodies)."
    ),
) -> None:
    """Serve the HTTP API (OpenAPI at /docs); keys come from `creditgraph keys create`."""
    import uvicorn

    from creditgraph.api.app import create_app

    app = create_app(get_settings())
    config = log_config()
    if not access_log:
        config["loggers"]["creditgraph.api.access"] = {"level": "WARNING"}
    uvicorn.run(
        app,
        host=host,
        port=port,
        workers=1,
        access_log=False,
        server_header=False,
        log_config=config,
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


if __name__ == "__main__":  # ``python -m creditgraph.cli.serve_cmd`` before it is registered
    typer.run(serve)
