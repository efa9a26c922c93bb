"""The log's side of C2SP ``tlog-witness``: asking one witness to cosign a checkpoint.

The log remembers the size each witness last cosigned and sends a consistency proof from it.
A 409 carries the witness's stored size: the log retries once from that size, which is how a
log that lost its memory (or a witness restored from backup) resynchronises. Anything else
that is not 200 is a refusal the caller reports; network trouble is a refusal too, so a
publication waits for its quorum rather than going out unwitnessed.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from creditgraph.audit.witness import SIZE_CONTENT_TYPE, format_request

TIMEOUT_SECONDS = 5.0
MAX_REPLY_BYTES = 64 * 1024


@dataclass(frozen=True)
class WitnessReply:
    status: int
    content_type: str
    body: bytes

    @property
    def stored_size(self) -> int | None:
        """A 409's stored size, when the body is one (``text/x.tlog.size``)."""
        if self.status != 409 or not self.content_type.startswith(SIZE_CONTENT_TYPE):
            return None
        text = self.body.strip()
        return int(text) if text.isdigit() else None


def post_add_checkpoint(
    url: str, old_size: int, proof: Sequence[bytes], signed_checkpoint: bytes
) -> WitnessReply:
    """POST one add-checkpoint to the witness at ``url`` (its prefix) and read the reply."""
    request = urllib.request.Request(
        url.rstrip("/") + "/add-checkpoint",
        data=format_request(old_size, proof, signed_checkpoint),
        method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return WitnessReply(
                response.status,
                response.headers.get("Content-Type", ""),
                response.read(MAX_REPLY_BYTES),
            )
    except urllib.error.HTTPError as exc:
        return WitnessReply(exc.code, exc.headers.get("Content-Type", ""), exc.read(4096))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return WitnessReply(0, "text/plain", f"unreachable: {reason}".encode())


@dataclass(frozen=True)
class WitnessOutcome:
    name: str
    cosignatures: bytes
    size: int | None
    """The size the witness now holds for the log, when known."""
    detail: str


Poster = Callable[[str, int, Sequence[bytes], bytes], WitnessReply]


def ask_witness(
    name: str,
    url: str,
    old_size: int,
    size: int,
    proof_from: Callable[[int], list[bytes]],
    signed_checkpoint: bytes,
    post: Poster = post_add_checkpoint,
) -> WitnessOutcome:
    """Ask one witness to cosign, retrying once from the size a 409 names."""
    reply = post(url, old_size, proof_from(old_size), signed_checkpoint)
    stored = reply.stored_size
    if stored is not None and stored != old_size and stored <= size:
        old_size = stored
        reply = post(url, old_size, proof_from(old_size), signed_checkpoint)
        stored = reply.stored_size
    if reply.status == 200:
        return WitnessOutcome(name, reply.body, size, "cosigned")
    said = reply.body.decode("utf-8", "replace").strip()[:300]
    if stored is not None:
        detail = f"{name} refused (409): it holds size {stored} with another tree"
        if stored > size:
            detail = f"{name} refused (409): it holds size {stored}, beyond this log's {size}"
        return WitnessOutcome(name, b"", stored, detail)
    return WitnessOutcome(name, b"", None, f"{name} refused ({reply.status}): {said}")
