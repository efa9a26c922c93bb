"""The FastAPI application: ``create_app(settings)`` wires the store, keys and decision service."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from creditgraph import __version__
from creditgraph.api import errors
from creditgraph.api.access_log import AccessLog
from creditgraph.api.alert_routes import router as alert_router
from creditgraph.api.audit_routes import router as audit_router
from creditgraph.api.consent_routes import router as consent_router
from creditgraph.api.context import ApiContext
from creditgraph.api.event_routes import router as event_router
from creditgraph.api.keys import KeyVerifier
from creditgraph.api.limits import BodyLimit, RequestGuard
from creditgraph.api.loan_routes import router as loan_router
from creditgraph.api.lockout import Lockout, Policy
from creditgraph.api.payment_routes import router as payment_router
from creditgraph.api.routes import router
from creditgraph.api.service import ServiceFactory, default_service_factory
from creditgraph.api.subject_routes import router as subject_router
from creditgraph.privacy.pseudonym import Pseudonymiser, load_or_create_key
from creditgraph.settings import Settings
from creditgraph.store.db import current_revision, head_revision, make_engine, upgrade
from creditgraph.web.app import mount as mount_workspace

DESCRIPTION = """Decisions on loan applications scored from social-network and behavioural data.

Authenticate with an API key: `Authorization: Bearer cg_...` (or `X-API-Key`). Every error is
`{"error": {"code", "message", "field"}}`. POSTs accept an `Idempotency-Key` header.
"""


def create_app(
    settings: Settings, service_factory: ServiceFactory = default_service_factory
) -> FastAPI:
    """An app on ``settings.database_url`` (migrated to head on creation)."""
    engine = make_engine(settings.database_url)
    if current_revision(engine) != head_revision():
        upgrade(engine)
    secret = load_or_create_key(settings.key_file)
    ctx = ApiContext(
        engine=engine,
        settings=settings,
        verifier=KeyVerifier(engine),
        service_factory=service_factory,
        lockout=Lockout(engine, Policy.of(settings), secret),
        pseudonyms=Pseudonymiser(secret),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(ctx.warm_up)
        app.state.web.warm_up()
        # Everything loaded so far (models, catalogue, policy) lives as long as the process:
        # moved out of the collector's view, it is no longer rescanned on every collection
        # (a fifth of the CPU time of a decision).
        gc.freeze()
        yield
        engine.dispose()

    app = FastAPI(
        title="creditgraph",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    errors.install(app)
    app.include_router(router)
    app.include_router(loan_router)
    app.include_router(payment_router)
    app.include_router(event_router)
    app.include_router(alert_router)
    app.include_router(audit_router)
    app.include_router(subject_router)
    app.include_router(consent_router)
    # the web workspace for the lender's staff, beside the API (docs/web.md)
    mount_workspace(
        app, engine, settings, ctx.pseudonyms, guard=ctx.lockout, loan_service=ctx.loans
    )
    # Outermost last: the guard sees everything, the access log every answer, limits the body.
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.api_max_body_bytes,
        timeout_seconds=settings.api_body_timeout_seconds,
        max_depth=settings.api_max_json_depth,
    )
    app.add_middleware(AccessLog)
    app.add_middleware(RequestGuard)
    return app
