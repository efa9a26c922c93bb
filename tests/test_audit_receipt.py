"""Offline receipts: built from the tile store, round trip, verify, and refuse every tampering."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine
from typer.testing import CliRunner

from creditgraph.audit import keyfile, merkle, note, tile_store
from creditgraph.audit.checkpoint import Checkpoint, format_checkpoint, sign_checkpoint
from creditgraph.audit.cosignature import cosign, generate_cosigner
from creditgraph.audit.receipt import (
    HEADER,
    CheckpointSignatureError,
    CosignatureFailureError,
    InclusionProofError,
    MalformedReceiptError,
    Receipt,
    ReceiptOriginError,
    UntrustedCheckpointError,
    WitnessPolicyNotMetError,
    format_receipt,
    make_receipt,
    parse_receipt,
    verify_receipt,
)
from creditgraph.audit.witness_policy import parse_witness_policy
from creditgraph.cli import audit_cmd

ORIGIN = "creditgraph.local/log-test"
LOG = note.Signer(ORIGIN, hashlib.sha256(b"receipt test log key").digest())
ENTRIES = [hashlib.sha256(f"commitment {i}".encode()).digest() for i in range(300)]


def _receipt(index: int, size: int, signer: note.Signer = LOG) -> Receipt:
    """A receipt for ENTRIES[index] in memory: the proof and root from the merkle module."""
    leaves = [merkle.leaf_hash(e) for e in ENTRIES[:size]]
    checkpoint = Checkpoint(signer.name, size, merkle.root_of_hashes(leaves))
    signed = sign_checkpoint(checkpoint, [signer])
    return make_receipt(ENTRIES[index], index, merkle.inclusion_proof(leaves, index, size), signed)


@pytest.fixture(scope="module")
def receipt_text() -> bytes:
    return format_receipt(_receipt(37, 300))


def test_a_receipt_from_the_tile_store_verifies(engine: Engine) -> None:
    with engine.begin() as conn:
        assert tile_store.append(conn, ENTRIES[:200]) == 0
    with engine.begin() as conn:
        assert tile_store.append(conn, ENTRIES[200:]) == 200
    with engine.connect() as conn:
        proof = tile_store.inclusion_proof(conn, 255, 300)
        root = tile_store.root(conn, 300)
    signed = sign_checkpoint(Checkpoint(ORIGIN, 300, root), [LOG])
    text = format_receipt(make_receipt(ENTRIES[255], 255, proof, signed))
    verified = verify_receipt(text, LOG.verifier())
    assert (verified.entry, verified.index) == (ENTRIES[255], 255)
    assert (verified.checkpoint.size, verified.checkpoint.root_hash) == (300, root)
    assert verified.cosigners == {}


def test_the_text_is_the_documented_layout(receipt_text: bytes) -> None:
    receipt = _receipt(37, 300)
    head, checkpoint = receipt_text.split(b"\n\n", 1)
    lines = head.split(b"\n")
    assert lines[0] == HEADER == b"c2sp.org/tlog-proof@v1"
    assert lines[1] == b"extra " + base64.b64encode(ENTRIES[37])
    assert lines[2] == b"index 37"
    assert [base64.b64decode(line) for line in lines[3:]] == list(receipt.proof)
    assert checkpoint == receipt.signed_checkpoint
    assert checkpoint.startswith(format_checkpoint(Checkpoint(ORIGIN, 300, _root(300))) + b"\n")


def _root(size: int) -> bytes:
    return merkle.root_of_hashes([merkle.leaf_hash(e) for e in ENTRIES[:size]])


@given(st.data())
def test_round_trip_and_verify_at_any_index(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, len(ENTRIES)))
    index = data.draw(st.integers(0, size - 1))
    receipt = _receipt(index, size)
    text = format_receipt(receipt)
    assert parse_receipt(text) == receipt
    assert format_receipt(parse_receipt(text)) == text
    verified = verify_receipt(text, LOG.verifier())
    assert (verified.index, verified.checkpoint.size) == (index, size)


def _tamper_line(text: bytes, number: int, new: bytes) -> bytes:
    head, rest = text.split(b"\n\n", 1)
    lines = head.split(b"\n")
    lines[number] = new
    return b"\n".join(lines) + b"\n\n" + rest


def test_a_changed_entry_byte_fails_the_inclusion_proof(receipt_text: bytes) -> None:
    entry = bytearray(ENTRIES[37])
    entry[5] ^= 0x01
    text = _tamper_line(receipt_text, 1, b"extra " + base64.b64encode(bytes(entry)))
    with pytest.raises(InclusionProofError, match="leads to root"):
        verify_receipt(text, LOG.verifier())


def test_a_changed_proof_hash_fails_the_inclusion_proof(receipt_text: bytes) -> None:
    receipt = _receipt(37, 300)
    changed = bytearray(receipt.proof[2])
    changed[0] ^= 0x80
    text = _tamper_line(receipt_text, 5, base64.b64encode(bytes(changed)))
    with pytest.raises(InclusionProofError, match="leads to root"):
        verify_receipt(text, LOG.verifier())


@pytest.mark.parametrize(("index", "why"), [(36, "leads to root"), (300, "not in a tree")])
def test_a_changed_index_fails_the_inclusion_proof(
    receipt_text: bytes, index: int, why: str
) -> None:
    text = _tamper_line(receipt_text, 2, f"index {index}".encode())
    with pytest.raises(InclusionProofError, match=why):
        verify_receipt(text, LOG.verifier())


def test_a_dropped_proof_hash_fails_the_inclusion_proof(receipt_text: bytes) -> None:
    head, rest = receipt_text.split(b"\n\n", 1)
    text = b"\n".join(head.split(b"\n")[:-1]) + b"\n\n" + rest
    with pytest.raises(InclusionProofError, match="hashes"):
        verify_receipt(text, LOG.verifier())


@pytest.mark.parametrize(
    ("line", "new"),
    [(1, b"299"), (2, base64.b64encode(hashlib.sha256(b"another root").digest()))],
)
def test_a_changed_checkpoint_size_or_root_fails_the_log_signature(
    receipt_text: bytes, line: int, new: bytes
) -> None:
    head, checkpoint = receipt_text.split(b"\n\n", 1)
    lines = checkpoint.split(b"\n")
    lines[line] = new
    with pytest.raises(CheckpointSignatureError, match="does not verify"):
        verify_receipt(head + b"\n\n" + b"\n".join(lines), LOG.verifier())


def _flip_last_signature(text: bytes, at: int) -> bytes:
    """``text`` with one bit of its last signature line's payload flipped, at byte ``at``."""
    head, _, line = text[:-1].rpartition(b"\n")
    name, payload = line.rsplit(b" ", 1)
    raw = bytearray(base64.b64decode(payload))
    raw[at] ^= 0x01
    return head + b"\n" + name + b" " + base64.b64encode(bytes(raw)) + b"\n"


def test_a_changed_signature_fails_the_log_signature(receipt_text: bytes) -> None:
    text = _flip_last_signature(receipt_text, 10)
    with pytest.raises(CheckpointSignatureError):
        verify_receipt(text, LOG.verifier())


def test_another_key_is_refused(receipt_text: bytes) -> None:
    other = note.Signer(ORIGIN, hashlib.sha256(b"another log key").digest())
    with pytest.raises(UntrustedCheckpointError, match="not signed by the log key"):
        verify_receipt(receipt_text, other.verifier())


def test_another_origin_is_refused(receipt_text: bytes) -> None:
    with pytest.raises(ReceiptOriginError, match="not the expected"):
        verify_receipt(receipt_text, LOG.verifier(), origin="creditgraph.local/log-other")
    renamed = note.Signer("creditgraph.local/log-other", LOG.seed)
    text = format_receipt(_receipt(3, 10, renamed))
    with pytest.raises(ReceiptOriginError):
        verify_receipt(text, renamed.verifier(), origin=ORIGIN)


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"c2sp.org/tlog-proof@v2\nextra AA==\nindex 0\n\nx\n\n- y\n",
        b"c2sp.org/tlog-proof@v1\nindex 0\n\nx\n\n- y\n",
        b"c2sp.org/tlog-proof@v1\nextra AA==\nindex 01\n\nx\n\n- y\n",
        b"c2sp.org/tlog-proof@v1\nextra AA=\nindex 0\n\nx\n\n- y\n",
        b"c2sp.org/tlog-proof@v1\nextra \nindex 0\n\nx\n\n- y\n",
        b"c2sp.org/tlog-proof@v1\nextra AA==\nindex 0\nAAAA\n\nx\n\n- y\n",
    ],
)
def test_malformed_receipts_are_refused(text: bytes) -> None:
    with pytest.raises(MalformedReceiptError):
        parse_receipt(text)


def test_witness_cosignatures_and_policy() -> None:
    alpha, beta = generate_cosigner("witness.a.example/w"), generate_cosigner("witness.b.example/w")
    receipt = _receipt(9, 40)
    cosigned = cosign(receipt.signed_checkpoint, alpha, 1_700_000_000)
    text = format_receipt(make_receipt(receipt.entry, 9, receipt.proof, cosigned))
    from creditgraph.audit.cosignature import format_verifier

    policy = parse_witness_policy(
        {
            "witnesses": [
                {"name": "a", "key": format_verifier(alpha.verifier())},
                {"name": "b", "key": format_verifier(beta.verifier())},
            ],
            "groups": [{"name": "any", "threshold": 1, "members": ["a", "b"]}],
            "quorum": "any",
        }
    )
    verified = verify_receipt(text, LOG.verifier(), policy=policy)
    assert verified.cosigners == {alpha.name: 1_700_000_000}
    both = policy.model_copy(update={"quorum": "b"})
    with pytest.raises(WitnessPolicyNotMetError, match="'b' is not met"):
        verify_receipt(text, LOG.verifier(), policy=both)
    forged = _flip_last_signature(cosigned, -5)
    with pytest.raises(CosignatureFailureError):
        verify_receipt(
            format_receipt(make_receipt(receipt.entry, 9, receipt.proof, forged)),
            LOG.verifier(),
            witness_verifiers=[alpha.verifier()],
        )


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        pass

    audit_cmd.register(app)
    return app


def test_cli_verifies_a_receipt_and_refuses_a_tampered_one(
    tmp_path: Path, app: typer.Typer, receipt_text: bytes
) -> None:
    runner = CliRunner()
    good = tmp_path / "receipt.txt"
    good.write_bytes(receipt_text)
    pub = note.format_verifier(LOG.verifier())
    result = runner.invoke(app, ["audit", "verify-receipt", str(good), "--key", pub])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"verified: index 37 in tree of size 300, origin {ORIGIN}\n"
    key_file = tmp_path / "audit.pub"
    key_file.write_text(pub + "\n")
    result = runner.invoke(app, ["audit", "verify-receipt", str(good), "--key", str(key_file)])
    assert result.exit_code == 0, result.output

    bad = tmp_path / "tampered.txt"
    bad.write_bytes(_tamper_line(receipt_text, 2, b"index 38"))
    result = runner.invoke(app, ["audit", "verify-receipt", str(bad), "--key", pub])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "refused: entry is not in the checkpoint's tree" in result.stderr
    assert "Traceback" not in result.stderr

    result = runner.invoke(app, ["audit", "verify-receipt", str(good), "--key", "nonsense"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: log key:")
    result = runner.invoke(app, ["audit", "verify-receipt", str(tmp_path / "none"), "--key", pub])
    assert result.exit_code == 1
    assert "No such file" in result.stderr


def test_cli_key_creates_the_log_key_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app: typer.Typer
) -> None:
    monkeypatch.setenv("CREDITGRAPH_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    first = runner.invoke(app, ["audit", "key"])
    assert first.exit_code == 0, first.output
    keys = tmp_path / "home" / "keys"
    assert stat.S_IMODE(os.stat(keys / "audit.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(keys).st_mode) == 0o700
    public = first.stdout.strip()
    assert (keys / "audit.pub").read_text() == public + "\n"
    verifier = note.parse_verifier(public)
    assert verifier.name.startswith(keyfile.ORIGIN_PREFIX)
    signer = note.parse_signer((keys / "audit.key").read_text().strip())
    assert signer.verifier() == verifier
    assert runner.invoke(app, ["audit", "key"]).stdout.strip() == public

    (keys / "audit.key").chmod(0o644)
    exposed = runner.invoke(app, ["audit", "key"])
    assert exposed.exit_code == 1
    assert "must not be readable by others" in exposed.stderr
