"""The audit log as the API shows it: a decision's receipt and opening, and the log's read paths."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class OpeningOut(BaseModel):
    """What links the receipt's entry to the decision: with it, the commitment is recomputed."""

    format: str = Field(description="creditgraph.audit/opening/v1")
    kind: str = Field(description="The record's kind: decision.")
    record_id: str = Field(description="The decision's id.")
    salt: str = Field(description="The record's 32-byte salt, hex.")
    message: str | None = Field(
        description="The canonical JSON committed to (kind, id and the fields the log vouches "
        "for); HMAC-SHA256 of it under the salt is the entry's commitment."
    )


class ProofOut(BaseModel):
    """A decision's offline receipt (C2SP tlog-proof) and the opening of its entry."""

    decision_id: str
    leaf_index: int = Field(ge=0, description="The entry's index in the log.")
    tree_size: int = Field(ge=1, description="The size of the checkpoint the receipt leads to.")
    receipt: str = Field(
        description="The receipt's text: entry, index, inclusion proof and the signed "
        "checkpoint with its witnesses' cosignatures; `creditgraph audit verify-receipt` "
        "checks it offline."
    )
    opening: OpeningOut
    log_key: str = Field(description="The log's verifier key (signed-note), as keys/audit.pub.")


TEXT_CONTENT: dict[str, Any] = {"text/plain": {"schema": {"type": "string"}}}
BINARY_CONTENT: dict[str, Any] = {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
}
