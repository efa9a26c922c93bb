"""Witness cosignatures (tlog-cosignature), add-checkpoint's rules (tlog-witness), k-of-n policies."""

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
from creditgraph.audit import witness as wt
from creditgraph.audit.witness_policy import (
    WitnessPolicyError,
    parse_witness_policy,
    satisfied,
)

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

# c2sp.org/tlog-witness, the example add-checkpoint request body.
SPEC_REQUEST = (
    "old 20852014\n"
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
    "\n"
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    f"{EM} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    f"{EM} example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n"
).encode()


def seed(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


LOG = note.Signer(ORIGIN, seed("log"))
LOG_NEXT = note.Signer(ORIGIN, seed("log, rotated"))
STRANGER = note.Signer(ORIGIN, seed("not the log"))
W1 = cs.CosignatureSigner("witness.bank-a.example/w1", seed("w1"))
W2 = cs.CosignatureSigner("witness.bank-b.example/w2", seed("w2"))
W3 = cs.CosignatureSigner("witness.auditor.example/w3", seed("w3"))
LOG_KEYS = {ORIGIN: [LOG.verifier()]}


def entries(count: int, tag: str = "a") -> list[bytes]:
    return [merkle.leaf_hash(f"{tag}{i}".encode()) for i in range(count)]


def signed(hashes: list[bytes], signer: note.Signer = LOG, origin: str = ORIGIN) -> bytes:
    checkpoint = cp.Checkpoint(origin, len(hashes), merkle.root_of_hashes(hashes))
    return cp.sign_checkpoint(checkpoint, [signer])


def request(old: int, proof: list[bytes], signed_checkpoint: bytes) -> wt.AddCheckpointRequest:
    return wt.parse_request(wt.format_request(old, proof, signed_checkpoint))


def state(hashes: list[bytes]) -> wt.WitnessState:
    return wt.WitnessState(len(hashes), merkle.root_of_hashes(hashes))


def decide(
    stored: wt.WitnessState | None,
    req: wt.AddCheckpointRequest,
    signer: cs.CosignatureSigner = W1,
) -> wt.Cosigned | wt.Refusal:
    return wt.add_checkpoint(stored, req, log_keys=LOG_KEYS, signers=[signer], now=NOW)


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


# --- add-checkpoint request bodies -----------------------------------------------------------


def test_the_specs_example_request_parses() -> None:
    req = wt.parse_request(SPEC_REQUEST)
    assert req.old_size == 20852014
    assert len(req.proof) == 4
    assert req.checkpoint.origin == "example.com/behind-the-sofa"
    assert req.checkpoint.size == 20852163
    assert wt.format_request(req.old_size, req.proof, req.signed_checkpoint) == SPEC_REQUEST


@settings(max_examples=60, deadline=None)
@given(
    old=st.integers(0, 2**64 - 1),
    proof=st.lists(st.binary(min_size=32, max_size=32), max_size=wt.MAX_PROOF_LINES),
)
def test_request_bodies_round_trip(old: int, proof: list[bytes]) -> None:
    body = wt.format_request(old, proof, SPEC_REQUEST.split(b"\n\n", 1)[1])
    req = wt.parse_request(body)
    assert (req.old_size, list(req.proof)) == (old, proof)
    assert wt.format_request(req.old_size, req.proof, req.signed_checkpoint) == body


CHECKPOINT_PART = SPEC_REQUEST.split(b"\n\n", 1)[1]
HASH_LINE = base64.b64encode(bytes(32)) + b"\n"


@pytest.mark.parametrize(
    "body",
    [
        b"old 01\n\n" + CHECKPOINT_PART,
        b"old -1\n\n" + CHECKPOINT_PART,
        b"old 18446744073709551616\n\n" + CHECKPOINT_PART,
        b"Old 1\n\n" + CHECKPOINT_PART,
        b"old 1",
        b"\n" + CHECKPOINT_PART,
        b"old 1\n" + HASH_LINE * 64 + b"\n" + CHECKPOINT_PART,
        b"old 1\n" + base64.b64encode(bytes(31)) + b"\n\n" + CHECKPOINT_PART,
        b"old 1\nnot base64!\n\n" + CHECKPOINT_PART,
        b"old 1\n" + HASH_LINE,
        b"old 1\n\n" + b"no checkpoint here\n",
        b"old 1\n\nexample.com/log\n01\n" + HASH_LINE + b"\n" + CHECKPOINT_PART.split(b"\n\n")[1],
    ],
    ids=[
        "leading-zero",
        "negative",
        "over-64-bits",
        "no-old",
        "no-newline",
        "empty-first-line",
        "64-proof-lines",
        "short-hash",
        "bad-base64",
        "no-blank-line",
        "not-a-note",
        "bad-checkpoint",
    ],
)
def test_malformed_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(wt.MalformedRequestError):
        wt.parse_request(body)


# --- add-checkpoint rules --------------------------------------------------------------------


def test_first_checkpoint_for_a_known_origin_is_cosigned() -> None:
    log_note = signed(entries(7))
    result = decide(None, request(0, [], log_note))
    assert isinstance(result, wt.Cosigned) and result.status == 200
    assert result.previous is None
    assert result.new_state == state(entries(7))
    assert cs.verify_cosignatures(log_note + result.cosignatures, [W1.verifier()]) == {W1.name: NOW}


def test_every_witness_key_cosigns() -> None:
    result = wt.add_checkpoint(
        None, request(0, [], signed(entries(2))), log_keys=LOG_KEYS, signers=[W1, W2], now=NOW
    )
    assert isinstance(result, wt.Cosigned)
    assert result.cosignatures.count(EM.encode()) == 2


def test_consistent_growth_is_cosigned() -> None:
    tree = entries(20)
    proof = merkle.consistency_proof(tree, 13, 20)
    result = decide(state(tree[:13]), request(13, proof, signed(tree)))
    assert isinstance(result, wt.Cosigned)
    assert result.previous == state(tree[:13]) and result.new_state == state(tree)


def test_same_size_same_root_is_cosigned_again() -> None:
    tree = entries(9)
    result = decide(state(tree), request(9, [], signed(tree)))
    assert isinstance(result, wt.Cosigned) and result.new_state == state(tree)


def test_same_size_different_root_is_a_conflict() -> None:
    other = entries(9, tag="b")
    result = decide(state(entries(9)), request(9, [], signed(other)))
    assert isinstance(result, wt.Conflict) and result.status == 409
    assert result.stored_size == 9 and "two views" in result.reason


def test_a_stale_old_size_is_409_with_the_stored_size() -> None:
    tree = entries(30)
    proof = merkle.consistency_proof(tree, 10, 30)
    result = decide(state(tree[:25]), request(10, proof, signed(tree)))
    assert isinstance(result, wt.Conflict)
    assert result.body() == b"25\n" and result.content_type == "text/x.tlog.size"


def test_old_size_zero_learns_the_stored_size() -> None:
    result = decide(state(entries(4)), request(0, [], signed(entries(6))))
    assert isinstance(result, wt.Conflict) and result.body() == b"4\n"


def test_an_old_size_beyond_the_checkpoint_is_400() -> None:
    result = decide(state(entries(8)), request(8, [], signed(entries(5))))
    assert isinstance(result, wt.MalformedRequest) and result.status == 400


def test_a_bad_proof_is_422() -> None:
    tree = entries(20)
    proof = merkle.consistency_proof(tree, 13, 20)
    proof[-1] = bytes(32)
    result = decide(state(tree[:13]), request(13, proof, signed(tree)))
    assert isinstance(result, wt.BadProof) and result.status == 422


@pytest.mark.parametrize(
    ("stored", "size", "proof_len"),
    [(None, 3, 1), (3, 3, 1)],
    ids=["proof-from-zero", "proof-at-equal-size"],
)
def test_a_proof_where_none_belongs_is_422(stored: int | None, size: int, proof_len: int) -> None:
    tree = entries(size)
    held = state(tree[:stored]) if stored is not None else None
    result = decide(held, request(stored or 0, [bytes(32)] * proof_len, signed(tree)))
    assert isinstance(result, wt.BadProof)


def test_an_empty_checkpoint_must_carry_the_empty_root() -> None:
    empty = cp.sign_checkpoint(cp.Checkpoint(ORIGIN, 0, merkle.EMPTY_ROOT), [LOG])
    assert isinstance(decide(None, request(0, [], empty)), wt.Cosigned)
    fake = cp.sign_checkpoint(cp.Checkpoint(ORIGIN, 0, bytes(32)), [LOG])
    assert isinstance(decide(None, request(0, [], fake)), wt.BadProof)


def test_an_unknown_key_is_403() -> None:
    result = decide(None, request(0, [], signed(entries(3), signer=STRANGER)))
    assert isinstance(result, wt.Forbidden) and result.status == 403


def test_a_bad_signature_by_the_logs_key_is_403() -> None:
    log_note = signed(entries(3))
    forged = log_note.replace(b"\n3\n", b"\n4\n", 1)
    result = decide(None, request(0, [], forged))
    assert isinstance(result, wt.Forbidden)


def test_a_cosignature_alone_is_403() -> None:
    only_witness = cs.cosign(signed(entries(3), signer=STRANGER), W2, NOW)
    keys = {ORIGIN: [LOG.verifier(), note.Verifier(W2.name, W2.public_key)]}
    result = wt.add_checkpoint(
        None, request(0, [], only_witness), log_keys=keys, signers=[W1], now=NOW
    )
    assert isinstance(result, wt.Forbidden)


def test_an_unknown_origin_is_404() -> None:
    other = note.Signer("elsewhere.example/log", seed("elsewhere"))
    result = decide(None, request(0, [], signed(entries(3), other, "elsewhere.example/log")))
    assert isinstance(result, wt.UnknownOrigin) and result.status == 404


def test_a_rotated_log_key_is_accepted_beside_the_old_one() -> None:
    keys = {ORIGIN: [LOG.verifier(), LOG_NEXT.verifier()]}
    result = wt.add_checkpoint(
        None, request(0, [], signed(entries(3), LOG_NEXT)), log_keys=keys, signers=[W1], now=NOW
    )
    assert isinstance(result, wt.Cosigned)


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_any_growth_with_its_proof_is_cosigned_and_any_changed_proof_byte_refused(
    data: st.DataObject,
) -> None:
    new = data.draw(st.integers(2, 70))
    old = data.draw(st.integers(1, new - 1))
    tree = entries(new)
    proof = merkle.consistency_proof(tree, old, new)
    assert isinstance(decide(state(tree[:old]), request(old, proof, signed(tree))), wt.Cosigned)
    item = data.draw(st.integers(0, len(proof) - 1))
    byte = data.draw(st.integers(0, 31))
    bad = [bytearray(p) for p in proof]
    bad[item][byte] ^= data.draw(st.integers(1, 255))
    result = decide(state(tree[:old]), request(old, [bytes(p) for p in bad], signed(tree)))
    assert isinstance(result, wt.BadProof)


class CasStore:
    """A witness's storage as a test sees it: swap only while the state decided on is there."""

    def __init__(self) -> None:
        self.state: wt.WitnessState | None = None

    def swap(self, result: wt.Cosigned) -> bool:
        if self.state != result.previous:
            return False
        self.state = result.new_state
        return True


def test_two_racing_requests_cannot_roll_the_witness_back() -> None:
    tree = entries(40)
    store = CasStore()
    store.state = state(tree[:10])
    small = request(10, merkle.consistency_proof(tree, 10, 20), signed(tree[:20]))
    large = request(10, merkle.consistency_proof(tree, 10, 40), signed(tree))
    a, b = decide(store.state, small), decide(store.state, large)
    assert isinstance(a, wt.Cosigned) and isinstance(b, wt.Cosigned)
    assert store.swap(b)
    assert not store.swap(a)  # the witness sends no cosignature for a; it decides again
    again = decide(store.state, small)
    assert isinstance(again, wt.Conflict) and again.stored_size == 40
    assert store.state == state(tree)


def test_a_split_view_is_refused_by_the_second_witness_on_exchange() -> None:
    """The log shows bank A's witness one tree of 5 and bank B's another; they compare notes."""
    common = entries(4)
    view_a, view_b = [*common, merkle.leaf_hash(b"a4")], [*common, merkle.leaf_hash(b"forged")]
    store_a, store_b = CasStore(), CasStore()
    shown_a, shown_b = (
        decide(None, request(0, [], signed(view_a)), W1),
        decide(None, request(0, [], signed(view_b)), W2),
    )
    assert isinstance(shown_a, wt.Cosigned) and store_a.swap(shown_a)
    assert isinstance(shown_b, wt.Cosigned) and store_b.swap(shown_b)

    # W1 forwards what it cosigned to W2, as the log's own request would be made.
    gossip = cs.cosign(signed(view_a), W1, NOW)
    refused = decide(store_b.state, request(5, [], gossip), W2)
    assert isinstance(refused, wt.Conflict) and refused.stored_size == 5
    assert store_b.state == state(view_b)

    # The log grows view B and tries it on W1: the proof cannot reach A's root.
    grown = [*view_b, *entries(3, tag="c")]
    proof = merkle.consistency_proof(grown, 5, 8)
    assert isinstance(decide(store_a.state, request(5, proof, signed(grown)), W1), wt.BadProof)

    # A partner needing both witnesses trusts neither view.
    policy = parse_witness_policy(
        {
            "quorum": "both",
            "witnesses": [
                {"name": "a", "key": cs.format_verifier(W1.verifier())},
                {"name": "b", "key": cs.format_verifier(W2.verifier())},
            ],
            "groups": [{"name": "both", "threshold": 2, "members": ["a", "b"]}],
        }
    )
    for view, result in [(view_a, shown_a), (view_b, shown_b)]:
        cosigners = cs.verify_cosignatures(signed(view) + result.cosignatures, policy.verifiers())
        assert not satisfied(policy, cosigners)


# --- policies --------------------------------------------------------------------------------


def _policy(**overrides: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "quorum": "partners",
        "witnesses": [
            {"name": "bank-a", "key": cs.format_verifier(W1.verifier())},
            {"name": "bank-b", "key": cs.format_verifier(W2.verifier())},
            {"name": "auditor", "key": cs.format_verifier(W3.verifier())},
        ],
        "groups": [
            {"name": "partners", "threshold": 2, "members": ["bank-a", "bank-b", "auditor"]}
        ],
    }
    raw.update(overrides)
    return raw


@pytest.mark.parametrize(
    ("signers", "met"),
    [((), False), ((W1,), False), ((W3,), False), ((W1, W3), True), ((W1, W2, W3), True)],
    ids=["none", "one-bank", "auditor", "two", "all"],
)
def test_two_of_three(signers: tuple[cs.CosignatureSigner, ...], met: bool) -> None:
    policy = parse_witness_policy(_policy())
    log_note = signed(entries(3))
    for signer in signers:
        log_note = cs.cosign(log_note, signer, NOW)
    assert satisfied(policy, cs.verify_cosignatures(log_note, policy.verifiers())) is met


def test_nested_groups_and_a_single_witness_quorum() -> None:
    nested = parse_witness_policy(
        _policy(
            quorum="banks-and-auditor",
            groups=[
                {"name": "banks", "threshold": 1, "members": ["bank-a", "bank-b"]},
                {"name": "banks-and-auditor", "threshold": 2, "members": ["banks", "auditor"]},
            ],
        )
    )
    assert satisfied(nested, [W2.name, W3.name])
    assert not satisfied(nested, [W1.name, W2.name])
    single = parse_witness_policy(_policy(quorum="auditor", groups=[]))
    assert satisfied(single, [W3.name]) and not satisfied(single, [W1.name, W2.name])


@pytest.mark.parametrize(
    ("overrides", "fault"),
    [
        ({"quorum": "nobody"}, "quorum 'nobody'"),
        (
            {"groups": [{"name": "g", "threshold": 4, "members": ["bank-a", "bank-b", "auditor"]}]},
            "needs 4",
        ),
        (
            {"groups": [{"name": "g", "threshold": 0, "members": ["bank-a"]}], "quorum": "g"},
            "threshold",
        ),
        (
            {"groups": [{"name": "g", "threshold": 1, "members": ["later"]}], "quorum": "g"},
            "not a witness",
        ),
        (
            {"groups": [{"name": "g", "threshold": 1, "members": ["g"]}], "quorum": "g"},
            "not a witness",
        ),
        (
            {
                "groups": [{"name": "g", "threshold": 1, "members": ["bank-a", "bank-a"]}],
                "quorum": "g",
            },
            "twice",
        ),
        (
            {
                "groups": [{"name": "bank-a", "threshold": 1, "members": ["bank-b"]}],
                "quorum": "bank-a",
            },
            "defined twice",
        ),
        ({"witnesses": []}, "witnesses"),
        (
            {
                "witnesses": [{"name": "x", "key": note.format_verifier(LOG.verifier())}],
                "quorum": "x",
                "groups": [],
            },
            "0x01",
        ),
        (
            {
                "witnesses": [
                    {"name": "x", "key": cs.format_verifier(W1.verifier())},
                    {"name": "y", "key": cs.format_verifier(W1.verifier())},
                ],
                "quorum": "x",
                "groups": [],
            },
            "share a key",
        ),
        ({"threshold": 2}, "threshold"),
    ],
    ids=[
        "unknown-quorum",
        "threshold-over-members",
        "threshold-zero",
        "forward-reference",
        "self-reference",
        "member-twice",
        "name-twice",
        "no-witnesses",
        "log-key",
        "shared-key",
        "misspelt-key",
    ],
)
def test_invalid_policies_are_refused_with_the_fault_named(
    overrides: dict[str, object], fault: str
) -> None:
    with pytest.raises(WitnessPolicyError, match=fault):
        parse_witness_policy(_policy(**overrides))
