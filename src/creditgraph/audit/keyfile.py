"""The log's signing keys on disk, beside the home's other keys, and their rotation.

``keys/audit.key`` (mode 0600, in a 0700 folder) holds the current signed-note private key
string; ``keys/audit.pub`` its public verifier key, which partners and witnesses are given. The
key's name is the log's origin, ``creditgraph.local/log-<16 random hex digits>``, drawn once
when the first key is made; a rotated key keeps it, since the origin names the log, not the key.

A rotation moves the current key to ``keys/audit-previous.key`` (and its public key to
``audit-previous.pub``) and makes a new one. Until the rotation is finished, checkpoints are
signed by both keys, so a witness or a partner that still trusts only the previous key keeps
accepting them while it learns the new one. Finishing moves the previous key to
``keys/audit-retired/<key id>.key``: receipts it signed still verify with its public key.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from creditgraph.audit import note
from creditgraph.audit.sequencer import LogKeys
from creditgraph.store.files import private_dir

ORIGIN_PREFIX = "creditgraph.local/log-"
"""Every log's origin starts so; the rest is drawn once per home."""

KEY_FILE, PUBLIC_FILE = "audit.key", "audit.pub"
PREVIOUS_KEY_FILE, PREVIOUS_PUBLIC_FILE = "audit-previous.key", "audit-previous.pub"
RETIRED_DIR = "audit-retired"


class AuditKeyFileError(Exception):
    """The log's key file is unreadable, malformed or open to others."""


def _read_signer(path: Path) -> note.Signer:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise AuditKeyFileError(f"{path}: key file must not be readable by others (mode {mode:o})")
    try:
        return note.parse_signer(path.read_text().strip())
    except (note.NoteError, UnicodeDecodeError) as exc:
        raise AuditKeyFileError(f"{path}: not a signer key: {exc}") from None


def _write_signer(path: Path, signer: note.Signer) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(note.format_signer(signer) + "\n")


def _write_public(path: Path, signer: note.Signer) -> str:
    public = note.format_verifier(signer.verifier())
    if not path.exists() or path.read_text().strip() != public:
        path.write_text(public + "\n")
    return public


def _keys_dir(keys_dir: Path) -> Path:
    private_dir(keys_dir)
    keys_dir.chmod(0o700)
    return keys_dir


def load_or_create(keys_dir: Path) -> LogKeys:
    """The log's keys (current first, then the previous during a rotation); made at first use."""
    key_path = keys_dir / KEY_FILE
    if key_path.exists():
        signer = _read_signer(key_path)
    else:
        _keys_dir(keys_dir)
        signer = note.generate_signer(ORIGIN_PREFIX + secrets.token_hex(8))
        _write_signer(key_path, signer)
    _write_public(keys_dir / PUBLIC_FILE, signer)
    signers = [signer]
    previous = keys_dir / PREVIOUS_KEY_FILE
    if previous.exists():
        signers.append(_read_signer(previous))
    try:
        return LogKeys(tuple(signers))
    except ValueError as exc:
        raise AuditKeyFileError(f"{keys_dir}: {exc}") from None


def load(keys_dir: Path) -> LogKeys:
    """The log's keys, which must exist: a server reading the log never makes a new identity
    for it (a missing key file is a fault to report, not a reason to start another log)."""
    if not (keys_dir / KEY_FILE).exists():
        raise AuditKeyFileError(
            f"{keys_dir / KEY_FILE}: the audit log has no key; `creditgraph audit key` makes it"
        )
    return load_or_create(keys_dir)


def all_verifiers(keys_dir: Path) -> list[note.Verifier]:
    """Every key the log has signed with: current, previous and retired (for verification)."""
    keys = load(keys_dir)
    found = [signer.verifier() for signer in keys.signers]
    retired = keys_dir / RETIRED_DIR
    for path in sorted(retired.glob("*.pub")) if retired.is_dir() else []:
        try:
            found.append(note.parse_verifier(path.read_text().strip()))
        except (note.NoteError, UnicodeDecodeError) as exc:
            raise AuditKeyFileError(f"{path}: not a verifier key: {exc}") from None
    return found


def public_key(keys_dir: Path) -> str:
    """The current verifier key string, as ``keys/audit.pub`` holds it."""
    return note.format_verifier(load_or_create(keys_dir).signers[0].verifier())


def rotate(keys_dir: Path) -> LogKeys:
    """Start a rotation: the current key becomes the previous one, a new key takes its place."""
    keys = load_or_create(keys_dir)
    if len(keys.signers) > 1:
        raise AuditKeyFileError(
            "a rotation is under way: finish it (audit rotate-key --finish) before starting another"
        )
    current = keys.signers[0]
    (keys_dir / KEY_FILE).rename(keys_dir / PREVIOUS_KEY_FILE)
    _write_public(keys_dir / PREVIOUS_PUBLIC_FILE, current)
    fresh = note.generate_signer(current.name)
    _write_signer(keys_dir / KEY_FILE, fresh)
    _write_public(keys_dir / PUBLIC_FILE, fresh)
    return LogKeys((fresh, current))


def finish_rotation(keys_dir: Path) -> Path:
    """Stop signing with the previous key; it is kept under ``audit-retired/`` by key id."""
    keys = load_or_create(keys_dir)
    if len(keys.signers) < 2:
        raise AuditKeyFileError("no rotation is under way")
    retired = _keys_dir(keys_dir / RETIRED_DIR)
    previous = keys.signers[1]
    target = retired / f"{previous.key_id:08x}.key"
    (keys_dir / PREVIOUS_KEY_FILE).rename(target)
    public = keys_dir / PREVIOUS_PUBLIC_FILE
    if public.exists():
        public.rename(retired / f"{previous.key_id:08x}.pub")
    return target
