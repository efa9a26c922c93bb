"""The audit log over HTTP: its read-only C2SP ``tlog-tiles`` paths, and a decision's receipt.

``GET /v1/audit/checkpoint`` and ``GET /v1/audit/tile/...`` need no API key: the log holds
commitments only, no personal data, and partners, auditors and witnesses read it as they read a
Certificate Transparency log (``/v1/audit`` is the log's prefix in the spec's terms). The
checkpoint is the latest *published* one, signed by the log and cosigned by its witnesses.

Tiles and entry bundles are served from what the tile store holds, not only up to the latest
published checkpoint: every byte at a tile path is final (a partial tile is a prefix of the
hashes that come later), so nothing served can contradict a checkpoint, and a client can trust
a tile only through a checkpoint it already holds. Serving the store as it is costs one read and
no check against the checkpoint. Full tiles and bundles are cached for a year; partial ones for
a minute, since the spec lets a log drop a partial tile once the full one exists.

``GET /v1/decisions/{id}/proof`` is for whoever may read the decision: the receipt (C2SP
``tlog-proof``) and the opening that ties its entry to the decision, so a borrower's app can keep
it and anyone with the log's key can check it offline (``creditgraph audit verify-receipt``).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import Engine, select

from creditgraph.api.context import ApiContext
from creditgraph.api.deps import READERS, get_context, in_worker, require, visible_decision
from creditgraph.api.errors import ApiError
from creditgraph.api.jsonable import JsonResponse
from creditgraph.api.keys import KeyInfo
from creditgraph.api.schemas.audit import BINARY_CONTENT, TEXT_CONTENT, ProofOut
from creditgraph.api.schemas.errors import AUTH, UNAVAILABLE, Responses, error, only
from creditgraph.audit import keyfile, note, proofs, sequencer, tile_store
from creditgraph.audit.tiles import Tile, TileError, parse_path
from creditgraph.store.models import AuditRecord, table_of

log = logging.getLogger("creditgraph.api")
router = APIRouter(prefix="/v1", tags=["audit"])

RECORDS = table_of(AuditRecord)
KIND = "decision"
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT_LIVED = "public, max-age=60"
TEXT_PLAIN = "text/plain; charset=utf-8"

NO_CHECKPOINT: Responses = {404: error("No checkpoint is published yet")}
TILE_ERRORS: Responses = {
    400: error("Not a tile or entry bundle path as tlog-tiles spells it (invalid_tile_path)"),
    404: error("The log has not grown to this tile or bundle yet"),
}
CHECKPOINT_OK: Responses = {200: {"description": "The signed note", "content": TEXT_CONTENT}}
TILE_OK: Responses = {200: {"description": "The tile's bytes", "content": BINARY_CONTENT}}
PROOF_ERRORS: Responses = {
    404: error(
        "No such decision (or not visible to this key), or it is not in the audit log "
        "(not_in_audit_log)"
    ),
    409: error("The decision's person was erased: its entry is unlinkable (erased)"),
    503: error(
        "No checkpoint covering the decision could be published (no_checkpoint: the witness "
        "quorum was not met, with the reason); the audit log's key or witness policy is "
        "broken (audit_unavailable); or no decision model is promoted yet"
    ),
}


# -- the log's read paths (no API key) ----------------------------------------------------------


@router.get(
    "/audit/checkpoint",
    summary="The log's latest published checkpoint (C2SP tlog-checkpoint, a signed note)",
    response_class=Response,
    responses=CHECKPOINT_OK | NO_CHECKPOINT,
)
def get_checkpoint(ctx: ApiContext = Depends(get_context)) -> Response:
    with ctx.engine.connect() as conn:
        latest = sequencer.latest(conn)
    if latest is None:
        raise ApiError(
            404,
            "not_found",
            "the audit log has published no checkpoint yet / 审计日志尚未发布检查点",
        )
    return Response(latest.note, media_type=TEXT_PLAIN, headers={"Cache-Control": "no-store"})


@router.get(
    "/audit/tile/{path:path}",
    summary="A tile (tile/<L>/<N>[.p/<W>]) or entry bundle (tile/entries/<N>[.p/<W>])",
    description="Byte-exact to C2SP tlog-tiles: a tile of width W is W 32-byte hashes; a "
    "bundle is its W entries, each a big-endian uint16 length and its bytes. Full tiles and "
    "bundles never change and are cached for a year.",
    response_class=Response,
    responses=TILE_OK | TILE_ERRORS,
)
def get_tile(path: str, ctx: ApiContext = Depends(get_context)) -> Response:
    try:
        wanted = parse_path(f"tile/{path}")
    except TileError as exc:
        raise ApiError(
            400,
            "invalid_tile_path",
            f"not a tlog-tiles path: {exc} / 不是 tlog-tiles 规定的瓦片路径",
        ) from None
    with ctx.engine.connect() as conn:
        if isinstance(wanted, Tile):
            data = tile_store.read_tile(conn, wanted)
        else:
            data = tile_store.read_bundle(conn, wanted)
    if data is None:
        raise ApiError(
            404,
            "not_found",
            f"the log has not grown to {wanted.path} yet / 审计日志尚未增长到该位置",
        )
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Cache-Control": IMMUTABLE if wanted.full else SHORT_LIVED},
    )


# -- a decision's receipt -----------------------------------------------------------------------


@router.get(
    "/decisions/{decision_id}/proof",
    summary="A decision's offline receipt: entry, inclusion proof, cosigned checkpoint",
    description="The receipt (C2SP tlog-proof) proves the decision's entry is in a checkpoint "
    "the log signed and its witnesses cosigned; the opening (salt and committed fields) ties "
    "the entry to the decision. `Accept: text/plain` answers the receipt's text alone.",
    response_model=ProofOut,
    responses={200: {"content": TEXT_CONTENT}} | only(*AUTH) | UNAVAILABLE | PROOF_ERRORS,
)
async def get_decision_proof(
    decision_id: str,
    request: Request,
    key: KeyInfo = Depends(require(*READERS)),
    ctx: ApiContext = Depends(get_context),
) -> Response:
    # Integrating, publishing and asking the witnesses block: all of it runs in a worker thread.
    answer = await in_worker(lambda: _prove(ctx, key, decision_id))
    headers = {"Cache-Control": "no-store"}  # the opening holds the record's salt
    if _wants_text(request):
        return Response(answer["receipt"], media_type=TEXT_PLAIN, headers=headers)
    return JsonResponse(answer, headers=headers)


def _prove(ctx: ApiContext, key: KeyInfo, decision_id: str) -> dict[str, Any]:
    visible_decision(ctx, key, decision_id)
    keys, policy = _log_setup(ctx)
    try:
        proof = proofs.prove(ctx.engine, keys, KIND, decision_id, policy=policy)
    except proofs.ProofUnavailableError:
        raise _why_unavailable(ctx.engine, decision_id) from None
    return {
        "decision_id": decision_id,
        "leaf_index": proof.leaf_index,
        "tree_size": proof.tree_size,
        "receipt": proof.receipt.decode("utf-8"),
        "opening": proof.opening,
        "log_key": note.format_verifier(keys.signers[0].verifier()),
    }


def _log_setup(ctx: ApiContext) -> tuple[sequencer.LogKeys, Any]:
    """The log's keys and witness policy; a broken key file or policy is the server's fault,
    named in the server's log and not to the client."""
    try:
        keys = keyfile.load(ctx.settings.keys_dir)
        policy = proofs.load_policy(ctx.settings.audit_witness_policy)
    except (keyfile.AuditKeyFileError, proofs.WitnessPolicyFileError, OSError) as exc:
        log.error("audit log unavailable: %s", exc)
        raise ApiError(
            503,
            "audit_unavailable",
            "the audit log's key or witness policy is not usable on the server; the "
            "operator's log says why / 服务器上的审计日志密钥或见证策略不可用",
        ) from None
    return keys, policy


def _why_unavailable(engine: Engine, decision_id: str) -> ApiError:
    """Why no receipt could be made: read after the failure, so the answer is the state that
    caused it (never in the log, erased, or no checkpoint that covers it)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(RECORDS.c.salt)
            .where(RECORDS.c.kind == KIND, RECORDS.c.record_id == decision_id)
            .order_by(RECORDS.c.id.desc())
            .limit(1)
        ).first()
        attempt = sequencer.latest(conn, published_only=False)
    if row is None:
        return ApiError(
            404,
            "not_in_audit_log",
            "the decision is not in the audit log (it was made before the log existed) / "
            "该决策不在审计日志中",
        )
    if row.salt is None:
        return ApiError(
            409,
            "erased",
            "the decision's person was erased: its entry stays in the log but can no longer "
            "be tied to the decision, so no receipt is made / 该决策所涉个人的数据已删除，"
            "其日志条目保留但已无法关联，不能出具凭证",
        )
    reason = attempt.detail if attempt is not None and not attempt.published else "none yet"
    return ApiError(
        503,
        "no_checkpoint",
        f"no checkpoint covering the decision could be published ({reason}); retry later / "
        "尚无覆盖该决策的已发布检查点（见证人法定数未满足），请稍后重试",
        headers={"Retry-After": str(int(sequencer.RETRY_SECONDS))},
    )


def _wants_text(request: Request) -> bool:
    """Whether the client asked for the receipt's text rather than JSON."""
    accepted = {
        part.split(";")[0].strip().lower() for part in request.headers.get("accept", "").split(",")
    }
    return "text/plain" in accepted and "application/json" not in accepted
