"""``creditgraph serve``: the HTTP API on uvicorn, one worker.

uvicorn's own access log is off: it writes full paths with query strings. The app logs method,
route template, status, time and key id instead (``creditgraph.api.access``). Slow clients are
cut off: see ``uvicorn_config``.
"""

from __future__ import annotations

from typing import Any

import typer

from creditgraph.settings import Settings, get_settings

MAX_HEADER_BYTES = 16 * 1024


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


def uvicorn_config(app: Any, settings: Settings, host: str, port: int, access_log: bool) -> Any:
    """uvicorn's configuration with the slow-client limits of ``settings``.

    Headers must arrive within ``api_header_timeout_seconds`` (our h11 protocol; uvicorn has no
    such timeout) and be at most 16 KiB; idle keep-alive connections close after
    ``api_keep_alive_seconds``; beyond ``api_limit_concurrency`` connections the answer is 503.
    Body time and size are the app's (``creditgraph.api.limits``).
    """
    import uvicorn

    from creditgraph.api.slow_clients import with_header_timeout

    config = log_config()
    if not access_log:
        config["loggers"]["creditgraph.api.access"] = {"level": "WARNING"}
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=1,
        http=with_header_timeout(settings.api_header_timeout_seconds),
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        timeout_keep_alive=settings.api_keep_alive_seconds,
        limit_concurrency=settings.api_limit_concurrency,
        access_log=False,
        server_header=False,
        log_config=config,
    )


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

    settings = get_settings()
    app = create_app(settings)
    uvicorn.Server(uvicorn_config(app, settings, host, port, access_log)).run()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


if __name__ == "__main__":  # ``python -m creditgraph.cli.serve_cmd`` before it is registered
    typer.run(serve)
