"""C2SP signed notes and checkpoints: published vectors, round trips and every malformed case."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditgraph.audit import checkpoint as cp
from creditgraph.audit import note
from creditgraph.audit.note import Signature, Signer, Verifier

EM = "—"

# golang.org/x/mod/sumdb/note, package documentation ("Example") and note_test.go.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    b"If you think cryptography is the answer to your problem,\n"
    b"then you don't know what your problem is.\n"
)
PETER_LINE = (
    f"{EM} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
).encode()
ENOCH_LINE = (
    f"{EM} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
).encode()
GO_NOTE = GO_TEXT + b"\n" + PETER_LINE
GO_COSIGNED = GO_NOTE + ENOCH_LINE

# c2sp.org/signed-note v1.x, "Example".
FOO_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
FOO_NOTE = (
    f"This is an example message.\n\n{EM} example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
).encode()


def _signer(name: str, byte: int) -> Signer:
    return Signer(name, bytes([byte]) * 32)


# --- published vectors ---------------------------------------------------------------------


def test_go_signer_reproduces_the_published_signature_line() -> None:
    signer = note.parse_signer(PETER_SKEY)
    assert (signer.name, signer.key_id) == ("PeterNeumann", 0xC74F20A3)
    assert note.format_verifier(signer.verifier()) == PETER_VKEY
    # Ed25519 is deterministic: signing Go's text with Go's key gives Go's bytes exactly.
    assert note.sign(GO_TEXT, [signer]) == GO_NOTE


def test_go_note_opens_with_the_published_verifier() -> None:
    opened = note.open(GO_NOTE, [note.parse_verifier(PETER_VKEY)])
    assert opened.text == GO_TEXT
    assert [(s.name, s.key_id) for s in opened.signatures] == [("PeterNeumann", 0xC74F20A3)]
    assert opened.unverified == ()


def test_go_cosigned_note_verifies_with_either_key() -> None:
    peter, enoch = note.parse_verifier(PETER_VKEY), note.parse_verifier(ENOCH_VKEY)
    by_enoch = note.open(GO_COSIGNED, [enoch])
    assert [s.name for s in by_enoch.signatures] == ["EnochRoot"]
    assert [s.name for s in by_enoch.unverified] == ["PeterNeumann"]
    assert [s.name for s in note.open(GO_COSIGNED, [peter]).signatures] == ["PeterNeumann"]
    both = note.open(GO_COSIGNED, [peter, enoch])
    assert [s.name for s in both.signatures] == ["PeterNeumann", "EnochRoot"]


def test_enoch_key_is_the_all_zero_seed() -> None:
    """Go's test key for EnochRoot derives from 32 zero bytes: seed, public key and id agree."""
    assert note.format_verifier(Signer("EnochRoot", bytes(32)).verifier()) == ENOCH_VKEY


def test_spec_example_note_verifies() -> None:
    foo = note.parse_verifier(FOO_VKEY)
    assert foo.key_id == 0x530D903A
    assert note.open(FOO_NOTE, [foo]).text == b"This is an example message.\n"


def test_key_id_is_the_spec_hash() -> None:
    verifier = note.parse_verifier(PETER_VKEY)
    preimage = b"PeterNeumann\n\x01" + verifier.public_key
    assert verifier.key_id == int.from_bytes(hashlib.sha256(preimage).digest()[:4], "big")
    assert note.key_id("PeterNeumann", verifier.public_key) == 0xC74F20A3


def test_a_mangled_copy_of_the_go_private_key_is_refused() -> None:
    # Three characters of the seed differ; the id no longer matches the derived public key.
    mangled = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKqFp"
    with pytest.raises(note.KeyIdMismatchError):
        note.parse_signer(mangled)


# --- keys ----------------------------------------------------------------------------------


def test_generated_keys_round_trip_through_their_strings() -> None:
    signer = note.generate_signer("example.com/log")
    text = note.format_signer(signer)
    assert text.startswith(f"PRIVATE+KEY+example.com/log+{signer.key_id:08x}+")
    assert note.parse_signer(text) == signer
    assert note.parse_verifier(note.format_verifier(signer.verifier())) == signer.verifier()
    assert "seed" not in repr(signer)


def test_upper_case_hex_ids_are_read() -> None:
    assert note.parse_verifier(PETER_VKEY.replace("c74f20a3", "C74F20A3")).key_id == 0xC74F20A3


@pytest.mark.parametrize(
    ("key", "error"),
    [
        ("PeterNeumann+c74f20a3", note.KeyFormatError),
        ("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", note.KeyFormatError),
        (
            "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            note.KeyFormatError,
        ),
        ("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", note.KeyFormatError),
        ("PeterNeumann+0xc74f20+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", note.KeyFormatError),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T", note.KeyFormatError),
        ("PeterNeumann+c74f20a3+", note.KeyFormatError),
        (
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            note.KeyIdMismatchError,
        ),
        (
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
            note.KeyFormatError,
        ),
        (
            "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            note.UnsupportedAlgorithmError,
        ),
    ],
)
def test_malformed_verifier_keys_are_refused(key: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        note.parse_verifier(key)


@pytest.mark.parametrize(
    ("key", "error"),
    [
        (PETER_SKEY.removeprefix("PRIVATE+"), note.KeyFormatError),
        (PETER_SKEY.replace("PRIVATE+KEY", "PUBLIC+KEY"), note.KeyFormatError),
        (PETER_SKEY.replace("c74f20a3", "c74f20a4"), note.KeyIdMismatchError),
        (PETER_SKEY.replace("+AYEK", "+AoEK"), note.UnsupportedAlgorithmError),
        (PETER_SKEY[:-4], note.KeyFormatError),
    ],
)
def test_malformed_signer_keys_are_refused(key: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        note.parse_signer(key)


def test_every_truncation_and_splice_of_the_signer_key_is_refused() -> None:
    """Go's test: no substring-deleted variant of a signer key is accepted."""
    for i in range(len(PETER_SKEY)):
        for j in range(i + 1, len(PETER_SKEY) + 1):
            if i == 0 and j == len(PETER_SKEY):
                continue
            with pytest.raises(note.NoteError):
                note.parse_signer(PETER_SKEY[:i] + PETER_SKEY[j:])


@pytest.mark.parametrize("name", ["", "a+b", "a b", "a\tb", "a\u00a0b", "a\nb"])
def test_invalid_key_names_are_refused(name: str) -> None:
    with pytest.raises(note.InvalidNameError):
        Signer(name, bytes(32))
    with pytest.raises(note.InvalidNameError):
        note.key_id(name, bytes(32))


def test_wrong_key_lengths_are_refused() -> None:
    with pytest.raises(note.KeyFormatError):
        Signer("a", bytes(31))
    with pytest.raises(note.KeyFormatError):
        Verifier("a", bytes(33))


# --- signing and opening -------------------------------------------------------------------


def test_two_signers_and_either_verifies() -> None:
    log, witness = _signer("example.com/log", 1), _signer("example.com/witness", 2)
    signed = note.sign(b"hello\n", [log, witness])
    for verifier in (log.verifier(), witness.verifier()):
        opened = note.open(signed, [verifier])
        assert [s.name for s in opened.signatures] == [verifier.name]
        assert len(opened.unverified) == 1


def test_a_cosigner_adds_its_line_after_the_existing_ones() -> None:
    log, witness = _signer("log", 1), _signer("witness", 2)
    signed = note.sign(b"hello\n", [log])
    opened = note.open(signed, [log.verifier()])
    cosigned = note.sign(opened.text, [witness], existing=opened.signatures)
    assert cosigned.startswith(signed)
    both = note.open(cosigned, [log.verifier(), witness.verifier()])
    assert [s.name for s in both.signatures] == ["log", "witness"]
    with pytest.raises(note.DuplicateSignerError):
        note.sign(opened.text, [log], existing=opened.signatures)


def test_text_may_hold_empty_lines_and_the_last_blank_line_separates() -> None:
    signer = _signer("log", 1)
    text = "Ognuno sta solo sul cuor della terra\n\ned è subito sera.\n\n".encode()
    assert note.open(note.sign(text, [signer]), [signer.verifier()]).text == text


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (b"", note.MalformedNoteError),
        (b"no newline", note.MalformedNoteError),
        (b"tab\there\n", note.MalformedNoteError),
        (b"carriage\r\n", note.MalformedNoteError),
        (b"\xff\xfe\n", note.MalformedNoteError),
    ],
)
def test_bad_texts_are_not_signed(text: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        note.sign(text, [_signer("log", 1)])


def test_signing_needs_a_signer_and_refuses_the_same_key_twice() -> None:
    with pytest.raises(note.NoteError):
        note.sign(b"x\n", [])
    with pytest.raises(note.DuplicateSignerError):
        note.sign(b"x\n", [_signer("log", 1), _signer("log", 1)])


def test_no_more_than_the_limit_of_signatures_is_written() -> None:
    signers = [_signer(f"k{i}", i % 256) for i in range(note.MAX_SIGNATURES + 1)]
    with pytest.raises(note.TooManySignaturesError):
        note.sign(b"x\n", signers)


def _line(name: str, payload: bytes) -> bytes:
    return f"{EM} {name} ".encode() + base64.b64encode(payload) + b"\n"


@pytest.mark.parametrize(
    "signed",
    [
        pytest.param(GO_TEXT + PETER_LINE, id="no blank line"),
        pytest.param(GO_TEXT + b"\n", id="no signature lines"),
        pytest.param(GO_NOTE[:-1], id="last line without newline"),
        pytest.param(GO_NOTE.replace(EM.encode(), b"-"), id="hyphen for em dash"),
        pytest.param(GO_NOTE.replace(EM.encode() + b" ", EM.encode()), id="no space after dash"),
        pytest.param(GO_TEXT + b"\n" + f"{EM} PeterNeumann\n".encode(), id="no signature"),
        pytest.param(GO_TEXT + b"\n" + f"{EM} PeterNeumann \n".encode(), id="empty signature"),
        pytest.param(GO_TEXT + b"\n" + f"{EM} PeterNeumann !!!!\n".encode(), id="not base64"),
        pytest.param(GO_NOTE.replace(b"AM=\n", b"AM\n"), id="unpadded base64"),
        pytest.param(GO_NOTE.replace(b"AM=\n", b"AN=\n"), id="non-canonical base64"),
        pytest.param(GO_TEXT + b"\n" + _line("PeterNeumann", b"\xc7\x4f\x20\xa3"), id="4 bytes"),
        pytest.param(GO_TEXT + b"\n" + _line("Peter+Neumann", b"12345678"), id="plus in name"),
        pytest.param(GO_TEXT + b"\n" + _line("", b"12345678"), id="empty name"),
        pytest.param(b"a\tb\n" + b"\n" + PETER_LINE, id="control character"),
        pytest.param(b"\xc3\n" + b"\n" + PETER_LINE, id="invalid UTF-8"),
        pytest.param(GO_NOTE + b"\n", id="trailing blank line"),
        pytest.param(GO_NOTE + PETER_LINE.replace(b"\n", b"\r\n"), id="CRLF"),
    ],
)
def test_malformed_notes_are_refused(signed: bytes) -> None:
    with pytest.raises(note.MalformedNoteError):
        note.open(signed, [note.parse_verifier(PETER_VKEY)])


def test_more_than_the_limit_of_signature_lines_is_refused_unread() -> None:
    many = GO_NOTE + ENOCH_LINE * note.MAX_SIGNATURES
    with pytest.raises(note.TooManySignaturesError):
        note.open(many, [note.parse_verifier(PETER_VKEY)])


def test_a_note_no_known_key_signed_is_refused_with_what_was_there() -> None:
    with pytest.raises(note.UnverifiedNoteError) as caught:
        note.open(GO_COSIGNED, [_signer("other", 3).verifier()])
    assert [s.name for s in caught.value.unverified] == ["PeterNeumann", "EnochRoot"]
    with pytest.raises(note.UnverifiedNoteError):
        note.open(GO_NOTE, [])


def test_same_name_other_id_is_unknown_not_a_failure() -> None:
    impostor = Verifier("PeterNeumann", _signer("x", 9).verifier().public_key)
    with pytest.raises(note.UnverifiedNoteError):
        note.open(GO_NOTE, [impostor])


def test_a_known_key_with_a_bad_signature_rejects_the_note() -> None:
    peter = note.parse_verifier(PETER_VKEY)
    forged = Signature("PeterNeumann", peter.key_id, bytes(64)).line()
    with pytest.raises(note.InvalidSignatureError):
        note.open(GO_TEXT + b"\n" + forged, [peter])
    # One good and one bad signature by known keys: still rejected.
    with pytest.raises(note.InvalidSignatureError):
        note.open(GO_TEXT + b"\n" + ENOCH_LINE + forged, [peter])


def test_changed_text_fails() -> None:
    tampered = GO_NOTE.replace(b"answer", b"anSwer")
    with pytest.raises(note.InvalidSignatureError):
        note.open(tampered, [note.parse_verifier(PETER_VKEY)])


def test_repeated_signatures_count_once() -> None:
    opened = note.open(
        GO_NOTE + PETER_LINE + ENOCH_LINE + ENOCH_LINE, [note.parse_verifier(PETER_VKEY)]
    )
    assert len(opened.signatures) == 1
    assert len(opened.unverified) == 1


def test_two_keys_under_one_name_and_id_are_ambiguous() -> None:
    real = note.parse_verifier(PETER_VKEY)

    class Colliding(Verifier):
        """Another key that claims Peter's id, as a 32-bit id collision would."""

        @property
        def key_id(self) -> int:
            return real.key_id

    with pytest.raises(note.AmbiguousKeyError):
        note.open(GO_NOTE, [real, Colliding("PeterNeumann", bytes(32))])


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(
        st.text(alphabet=st.characters(min_codepoint=0x20, codec="utf-8"), max_size=40),
        min_size=1,
        max_size=6,
    ),
    position=st.integers(min_value=0),
    bit=st.integers(min_value=0, max_value=7),
)
def test_any_text_round_trips_and_any_changed_byte_fails(
    lines: list[str], position: int, bit: int
) -> None:
    signer = _signer("example.com/log", 7)
    text = "".join(line + "\n" for line in lines).encode()
    signed = note.sign(text, [signer])
    opened = note.open(signed, [signer.verifier()])
    assert opened.text == text
    assert note.sign(opened.text, [], existing=opened.signatures) == signed

    index = position % len(signed)
    changed = bytearray(signed)
    changed[index] ^= 1 << bit
    with pytest.raises(note.NoteError):
        note.open(bytes(changed), [signer.verifier()])


# --- checkpoints ---------------------------------------------------------------------------

ROOT = hashlib.sha256(b"root").digest()


def test_checkpoint_text_is_exact_and_round_trips() -> None:
    checkpoint = cp.Checkpoint("example.com/log", 20852163, ROOT, ("ext one",))
    text = cp.format_checkpoint(checkpoint)
    assert text == (b"example.com/log\n20852163\n" + base64.b64encode(ROOT) + b"\next one\n")
    assert cp.parse_checkpoint(text) == checkpoint


def test_the_spec_example_body_parses() -> None:
    body = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    parsed = cp.parse_checkpoint(body)
    assert (parsed.origin, parsed.size, len(parsed.root_hash)) == (
        "example.com/behind-the-sofa",
        20852163,
        32,
    )
    assert cp.format_checkpoint(parsed) == body


def test_empty_tree_is_size_zero() -> None:
    empty = hashlib.sha256(b"").digest()
    assert cp.parse_checkpoint(cp.format_checkpoint(cp.Checkpoint("o", 0, empty))).size == 0


B64_ROOT = base64.b64encode(ROOT)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(b"origin\n1\n" + B64_ROOT, id="no final newline"),
        pytest.param(b"origin\n1\n", id="two lines"),
        pytest.param(b"\n1\n" + B64_ROOT + b"\n", id="empty origin"),
        pytest.param(b"origin\n01\n" + B64_ROOT + b"\n", id="leading zero"),
        pytest.param(b"origin\n-1\n" + B64_ROOT + b"\n", id="negative"),
        pytest.param(b"origin\n+1\n" + B64_ROOT + b"\n", id="plus sign"),
        pytest.param(b"origin\n1 \n" + B64_ROOT + b"\n", id="trailing space"),
        pytest.param(b"origin\n\xd9\xa1\n" + B64_ROOT + b"\n", id="arabic digit"),
        pytest.param(b"origin\n18446744073709551616\n" + B64_ROOT + b"\n", id="over 2^64-1"),
        pytest.param(b"origin\n1\n" + base64.b64encode(ROOT[:31]) + b"\n", id="31-byte root"),
        pytest.param(b"origin\n1\n" + B64_ROOT.rstrip(b"=") + b"\n", id="unpadded root"),
        pytest.param(b"origin\n1\n" + B64_ROOT[:-2] + b"J=\n", id="non-canonical root"),
        pytest.param(b"origin\n1\n" + B64_ROOT + b"\n\n", id="empty extension line"),
        pytest.param(b"origin\n1\n" + B64_ROOT + b"\nx\ty\n", id="control in extension"),
        pytest.param(b"\xff\n1\n" + B64_ROOT + b"\n", id="invalid UTF-8"),
    ],
)
def test_malformed_checkpoints_are_refused(text: bytes) -> None:
    with pytest.raises(cp.MalformedCheckpointError):
        cp.parse_checkpoint(text)


@pytest.mark.parametrize(
    ("origin", "size", "root", "extensions"),
    [
        ("", 1, ROOT, ()),
        ("a\nb", 1, ROOT, ()),
        ("o", -1, ROOT, ()),
        ("o", 2**64, ROOT, ()),
        ("o", 1, ROOT[:31], ()),
        ("o", 1, ROOT, ("",)),
        ("o", 1, ROOT, ("a\nb",)),
    ],
)
def test_bad_checkpoints_cannot_be_built(
    origin: str, size: int, root: bytes, extensions: tuple[str, ...]
) -> None:
    with pytest.raises(cp.MalformedCheckpointError):
        cp.Checkpoint(origin, size, root, extensions)


def test_signed_checkpoint_opens_for_its_origin_and_key() -> None:
    log = _signer("example.com/log", 1)
    checkpoint = cp.Checkpoint("example.com/log", 42, ROOT)
    signed = cp.sign_checkpoint(checkpoint, [log])
    opened = cp.open_checkpoint(signed, origin="example.com/log", verifier=log.verifier())
    assert opened.checkpoint == checkpoint
    assert opened.note.text == cp.format_checkpoint(checkpoint)


def test_witness_cosignature_is_verified_and_ignored_when_unknown() -> None:
    log, witness = _signer("example.com/log", 1), _signer("example.com/witness", 2)
    signed = cp.sign_checkpoint(cp.Checkpoint("example.com/log", 42, ROOT), [log, witness])
    known = cp.open_checkpoint(
        signed, origin="example.com/log", verifier=log.verifier(), others=[witness.verifier()]
    )
    assert [s.name for s in known.note.signatures] == ["example.com/log", "example.com/witness"]
    alone = cp.open_checkpoint(signed, origin="example.com/log", verifier=log.verifier())
    assert [s.name for s in alone.note.unverified] == ["example.com/witness"]


def test_checkpoint_of_another_origin_is_refused() -> None:
    log = _signer("example.com/log", 1)
    signed = cp.sign_checkpoint(cp.Checkpoint("example.com/other", 42, ROOT), [log])
    with pytest.raises(cp.OriginMismatchError):
        cp.open_checkpoint(signed, origin="example.com/log", verifier=log.verifier())


def test_a_witness_signature_never_stands_in_for_the_log() -> None:
    log, witness = _signer("example.com/log", 1), _signer("example.com/witness", 2)
    signed = cp.sign_checkpoint(cp.Checkpoint("example.com/log", 42, ROOT), [witness])
    with pytest.raises(cp.MissingLogSignatureError):
        cp.open_checkpoint(
            signed, origin="example.com/log", verifier=log.verifier(), others=[witness.verifier()]
        )
    with pytest.raises(note.UnverifiedNoteError):
        cp.open_checkpoint(signed, origin="example.com/log", verifier=log.verifier())


def test_a_changed_checkpoint_fails() -> None:
    log = _signer("example.com/log", 1)
    signed = cp.sign_checkpoint(cp.Checkpoint("example.com/log", 42, ROOT), [log])
    with pytest.raises(note.InvalidSignatureError):
        cp.open_checkpoint(
            signed.replace(b"\n42\n", b"\n43\n"), origin="example.com/log", verifier=log.verifier()
        )


def test_signed_but_malformed_checkpoint_is_refused() -> None:
    log = _signer("example.com/log", 1)
    signed = note.sign(b"example.com/log\n042\n" + B64_ROOT + b"\n", [log])
    with pytest.raises(cp.MalformedCheckpointError):
        cp.open_checkpoint(signed, origin="example.com/log", verifier=log.verifier())


@settings(max_examples=60, deadline=None)
@given(
    origin=st.text(
        alphabet=st.characters(min_codepoint=0x21, codec="utf-8"),
        min_size=1,
        max_size=30,
    ),
    size=st.integers(min_value=0, max_value=2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(
        st.text(alphabet=st.characters(min_codepoint=0x20, codec="utf-8"), min_size=1),
        max_size=3,
    ),
)
def test_any_checkpoint_round_trips(
    origin: str, size: int, root: bytes, extensions: list[str]
) -> None:
    checkpoint = cp.Checkpoint(origin, size, root, tuple(extensions))
    assert cp.parse_checkpoint(cp.format_checkpoint(checkpoint)) == checkpoint
