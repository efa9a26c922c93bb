"""Witness cosignatures (tlog-cosignature): the exact message, key ids, round trips and tampering."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from creditgraph.audit import checkpoint as cp
from creditgraph.audit import cosignature as cs
from creditgraph.audit import merkle, note

EM = "—"
ORIGIN = "audit.creditgraph.example/log"
NOW = 1_796_000_000

# c2sp.org/tlog-cosignature, "Ed25519 signed message" and the example cosigned checkpoint.
SPEC_BODY = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_MESSAGE = b"cosignature/v1\ntime 1679315147\n" + SPEC_BODY
SPEC_COSIGNATURE_B64 = (
    "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZ"
    "qhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)


def seed(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


LOG = note.Signer(ORIGIN, seed("log"))
LOG_NEXT = note.Signer(ORIGIN, seed("log, rotated"))
STRANGER = note.Signer(ORIGIN, seed("not the log"))
W1 = cs.CosignatureSigner("witness.bank-a.example/w1", seed("w1"))
W2 = cs.CosignatureSigner("witness.bank-b.example/w2", seed("w2"))
W3 = cs.CosignatureSigner("witness.auditor.example/w3", seed("w3"))


def entries(count: int, tag: str = "a") -> list[bytes]:
    return [merkle.leaf_hash(f"{tag}{i}".encode()) for i in range(count)]


def signed(hashes: list[bytes], signer: note.Signer = LOG, origin: str = ORIGIN) -> bytes:
    checkpoint = cp.Checkpoint(origin, len(hashes), merkle.root_of_hashes(hashes))
    return cp.sign_checkpoint(checkpoint, [signer])


# --- cosignatures ---------------------------------------------------------------------------


def test_signed_message_is_the_specs_example_byte_for_byte() -> None:
    assert cs.signed_message(SPEC_BODY, 1679315147) == SPEC_MESSAGE


def test_spec_example_line_carries_the_key_id_then_the_big_endian_time_of_its_message() -> None:
    raw = base64.b64decode(SPEC_COSIGNATURE_B64)
    assert len(raw) == 4 + cs.TIMESTAMPED_SIGNATURE_SIZE
    assert int.from_bytes(raw[4:12], "big") == 1679315147


def test_key_id_and_verifier_string_use_type_0x04() -> None:
    public = W1.public_key
    digest = hashlib.sha256(W1.name.encode() + b"\n\x04" + public).digest()
    assert W1.key_id == int.from_bytes(digest[:4], "big")
    assert W1.key_id != note.key_id(W1.name, public)
    key = cs.format_verifier(W1.verifier())
    encoded = base64.b64encode(bytes([0x04]) + public).decode()
    assert key == f"{W1.name}+{W1.key_id:08x}+{encoded}"
    assert cs.parse_verifier(key) == W1.verifier()


def test_parse_verifier_refuses_a_log_key_a_wrong_id_and_bad_base64() -> None:
    with pytest.raises(note.UnsupportedAlgorithmError, match="0x01"):
        cs.parse_verifier(note.format_verifier(LOG.verifier()))
    good = cs.format_verifier(W1.verifier())
    name, _, key = good.split("+", 2)
    with pytest.raises(note.KeyIdMismatchError):
        cs.parse_verifier(f"{name}+00000000+{key}")
    with pytest.raises(note.KeyFormatError):
        cs.parse_verifier(f"{name}+{W1.key_id:08x}+{key[:-2]}")
    with pytest.raises(note.KeyFormatError):
        cs.parse_verifier("no-plus-signs")


def test_cosignature_is_ed25519_over_exactly_the_documented_message() -> None:
    log_note = signed(entries(3))
    body = log_note[: log_note.rfind(b"\n\n") + 1]
    cosigned = cs.cosign(log_note, W1, NOW)
    line = cosigned[len(log_note) :]
    assert line.startswith(f"{EM} {W1.name} ".encode()) and line.endswith(b"\n")
    raw = base64.b64decode(line[len(f"{EM} {W1.name} ".encode()) : -1])
    assert int.from_bytes(raw[:4], "big") == W1.key_id
    assert int.from_bytes(raw[4:12], "big") == NOW
    message = b"cosignature/v1\ntime " + str(NOW).encode() + b"\n" + body
    Ed25519PublicKey.from_public_bytes(W1.public_key).verify(raw[12:], message)


def test_round_trip_and_the_log_still_opens_its_checkpoint() -> None:
    log_note = signed(entries(5))
    cosigned = cs.cosign(cs.cosign(log_note, W1, NOW), W2, NOW + 7)
    verifiers = [W1.verifier(), W2.verifier(), W3.verifier()]
    assert cs.verify_cosignatures(cosigned, verifiers) == {W1.name: NOW, W2.name: NOW + 7}
    opened = cp.open_checkpoint(cosigned, origin=ORIGIN, verifier=LOG.verifier())
    assert opened.checkpoint.size == 5
    assert cs.verify_cosignatures(log_note, verifiers) == {}


def test_a_cosignature_never_passes_for_the_logs_signature() -> None:
    cosigned = cs.cosign(signed(entries(2)), W1, NOW)
    as_log_key = note.Verifier(W1.name, W1.public_key)
    with pytest.raises(note.UnverifiedNoteError):
        cp.open_checkpoint(cosigned, origin=ORIGIN, verifier=as_log_key)


def test_a_second_cosignature_by_one_key_is_refused() -> None:
    once = cs.cosign(signed(entries(2)), W1, NOW)
    with pytest.raises(note.DuplicateSignerError):
        cs.cosign(once, W1, NOW + 1)


def test_cosign_refuses_what_is_not_a_checkpoint() -> None:
    with pytest.raises(cs.MalformedCheckpointNoteError):
        cs.cosign(note.sign(b"just a note\n", [LOG]), W1, NOW)


def _replace_payload(cosigned: bytes, signer: cs.CosignatureSigner, change: int) -> bytes:
    prefix = f"{EM} {signer.name} ".encode()
    start = cosigned.index(prefix) + len(prefix)
    end = cosigned.index(b"\n", start)
    raw = bytearray(base64.b64decode(cosigned[start:end]))
    raw[change] ^= 0x01
    return cosigned[:start] + base64.b64encode(bytes(raw)) + cosigned[end:]


@pytest.mark.parametrize(
    "position", [4, 11, 12, 40, 75], ids=["time-hi", "time-lo", "sig", "sig-mid", "sig-end"]
)
def test_a_changed_timestamp_or_signature_byte_fails(position: int) -> None:
    cosigned = cs.cosign(signed(entries(4)), W1, NOW)
    with pytest.raises(cs.InvalidCosignatureError):
        cs.verify_cosignatures(_replace_payload(cosigned, W1, position), [W1.verifier()])


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_changed_byte_of_the_checkpoint_text_fails(data: st.DataObject) -> None:
    log_note = cs.cosign(signed(entries(6)), W1, NOW)
    text_end = log_note.rfind(b"\n\n")
    position = data.draw(st.integers(0, text_end - 1))
    flip = data.draw(st.integers(1, 255))
    changed = bytearray(log_note)
    changed[position] ^= flip
    with pytest.raises((cs.CosignatureError, note.NoteError)):
        cs.verify_cosignatures(bytes(changed), [W1.verifier()])


def test_a_timestamp_from_the_future_is_refused_when_asked() -> None:
    cosigned = cs.cosign(signed(entries(2)), W1, NOW)
    assert cs.verify_cosignatures(cosigned, [W1.verifier()], not_after=NOW) == {W1.name: NOW}
    with pytest.raises(cs.InvalidCosignatureError, match="after"):
        cs.verify_cosignatures(cosigned, [W1.verifier()], not_after=NOW - 1)


def test_a_timestamp_past_two_to_the_63_is_refused() -> None:
    with pytest.raises(cs.CosignatureError):
        cs.signed_message(SPEC_BODY, 2**63)
    log_note = signed(entries(2))
    line = note.Signature(W1.name, W1.key_id, (2**63).to_bytes(8, "big") + bytes(64)).line()
    with pytest.raises(cs.InvalidCosignatureError, match="2\\^63"):
        cs.verify_cosignatures(log_note + line, [W1.verifier()])
