"""The witness's HTTP server: C2SP tlog-witness ``POST /add-checkpoint`` as a Starlette app.

One request: read the body (at most ``MAX_BODY_BYTES``, else 413), parse it (400), load the
origin's stored state, decide with ``witness.add_checkpoint``, and on a cosignature swap the
stored state with ``compare_and_swap``. The cosignature lines are sent only after that swap
committed. A lost swap means another request moved the state meanwhile: the request is decided
again on the fresh state (which normally makes it a 409), a few times at most.

Fails closed: any unexpected exception (a locked or unwritable database, a bug) is a 500 with
no cosignature, and its class alone is logged. Refusals that came after the log's signature
verified and that no honest log causes (a second root at a cosigned size, a bad proof) are kept
as evidence in the witness's database.

``GET /health`` answers ``ok`` for probes. Nothing here handles personal data: checkpoints are
tree heads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from creditgraph.audit.cosignature import CosignatureSigner
from creditgraph.audit.note import Verifier
from creditgraph.audit.witness import (
    BadProof,
    Conflict,
    Cosigned,
    MalformedRequestError,
    add_checkpoint,
    parse_request,
)
from creditgraph.audit.witness_store import WitnessStore

log = logging.getLogger("creditgraph.witness")

MAX_BODY_BYTES = 1024 * 1024
"""A request is 63 proof lines and a checkpoint with its signatures: far below 1 MiB."""

MAX_SWAP_ATTEMPTS = 5
"""Decisions retried after a lost compare-and-swap before the request fails (500)."""

TEXT = "text/plain; charset=utf-8"


class SwapContentionError(RuntimeError):
    """The stored state kept moving under one request; it is answered 500, uncosigned."""


@dataclass(frozen=True)
class Answer:
    """An HTTP answer before it becomes a response: status, content type, body."""

    status: int
    content_type: str
    body: bytes


def _now() -> int:
    return int(time.time())


@dataclass(frozen=True)
class Witness:
    """What a witness needs to answer: its store, the logs' keys, its cosigning keys, a clock."""

    store: WitnessStore
    log_keys: Mapping[str, Sequence[Verifier]]
    signers: Sequence[CosignatureSigner]
    clock: Callable[[], int] = field(default=_now)

    def add_checkpoint(self, body: bytes) -> Answer:
        """The answer to one add-checkpoint body; raises on anything unexpected."""
        try:
            request = parse_request(body)
        except MalformedRequestError as exc:
            return Answer(400, TEXT, f"{exc}\n".encode())
        origin = request.checkpoint.origin
        for _ in range(MAX_SWAP_ATTEMPTS):
            stored = self.store.load(origin) if origin in self.log_keys else None
            result = add_checkpoint(
                stored, request, log_keys=self.log_keys, signers=self.signers, now=self.clock()
            )
            if isinstance(result, Cosigned):
                if self.store.compare_and_swap(origin, result.previous, result.new_state):
                    return Answer(200, TEXT, result.cosignatures)
                continue  # another request moved the state: decide again on the fresh one
            if _is_evidence(result, request.old_size):
                self.store.keep_evidence(
                    origin, result.status, result.reason, request.signed_checkpoint
                )
            return Answer(result.status, result.content_type, result.body())
        raise SwapContentionError(f"the stored state moved {MAX_SWAP_ATTEMPTS} times")


def _is_evidence(result: object, old_size: int) -> bool:
    """A refusal of a log-signed checkpoint that no honest log sends: a proof that does not
    verify, or another root at the very size already cosigned (a split view). A stale old size
    (409 with another stored size) is ordinary protocol and is not kept."""
    if isinstance(result, BadProof):
        return True
    return isinstance(result, Conflict) and result.stored_size == old_size


class BodyTooLargeError(Exception):
    """The request body is over ``MAX_BODY_BYTES``."""


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


def create_witness_app(witness: Witness, *, max_body_bytes: int = MAX_BODY_BYTES) -> Starlette:
    """The ASGI app serving ``witness``."""

    async def add_checkpoint_route(request: Request) -> Response:
        try:
            body = await _read_body(request, max_body_bytes)
        except BodyTooLargeError:
            return PlainTextResponse(f"the body is over {max_body_bytes} bytes\n", 413)
        try:
            answer = await run_in_threadpool(witness.add_checkpoint, body)
        except Exception as exc:  # fails closed: no cosignature on any unexpected failure
            log.error("add-checkpoint failed: %s", type(exc).__name__)
            return PlainTextResponse("internal error; nothing was cosigned\n", 500)
        # set as given: Starlette would add a charset to text/x.tlog.size
        return Response(answer.body, answer.status, headers={"content-type": answer.content_type})

    async def health(_request: Request) -> Response:
        return PlainTextResponse("ok\n")

    return Starlette(
        routes=[
            Route("/add-checkpoint", add_checkpoint_route, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )


@contextmanager
def serving_in_thread(app: Starlette, *, start_timeout: float = 30.0) -> Iterator[str]:
    """``app`` on uvicorn in a daemon thread on a free loopback port; its base URL.

    For a witness beside the log in one process: the demo's partners, the benchmark, the tests.
    A partner's own witness runs as ``creditgraph witness serve``.
    """
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the witness server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
