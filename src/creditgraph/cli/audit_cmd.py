"""``creditgraph audit``: the tamper-evident audit log's key and offline receipt checks.

``verify-receipt`` needs only a receipt and the log's public key, so a partner, an auditor or a
borrower runs it with no database and no home. ``key`` prints this home's log key.

The log's signing key lives in ``<home>/keys/audit.key`` (mode 0600, in a 0700 folder) as a
signed-note private key string; its public verifier key string is ``<home>/keys/audit.pub``.
The key's name is the log's origin, ``creditgraph.local/log-<16 random hex digits>``, drawn once
when the key is made and read back from the key file ever after, so the origin stays the same
for the life of the home (a rotated key would keep the name).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import typer

ORIGIN_PREFIX = "creditgraph.local/log-"
"""Every log's origin starts so; the rest is drawn once per home."""

audit_app = typer.Typer(
    help="The audit log: its public key, offline receipt verification.", no_args_is_help=True
)


class AuditKeyFileError(Exception):
    """The log's key file is unreadable, malformed or open to others."""


def load_or_create_log_signer(keys_dir: Path) -> str:
    """The log's public verifier key string, creating ``audit.key`` and ``audit.pub`` at first use.

    An existing key file must be closed to group and others, as the pseudonym key is.
    """
    from creditgraph.audit import note
    from creditgraph.store.files import private_dir

    key_path, pub_path = keys_dir / "audit.key", keys_dir / "audit.pub"
    if key_path.exists():
        mode = key_path.stat().st_mode & 0o777
        if mode & 0o077:
            raise AuditKeyFileError(
                f"{key_path}: key file must not be readable by others (mode {mode:o})"
            )
        try:
            signer = note.parse_signer(key_path.read_text().strip())
        except (note.NoteError, UnicodeDecodeError) as exc:
            raise AuditKeyFileError(f"{key_path}: not a signer key: {exc}") from None
    else:
        private_dir(keys_dir)
        keys_dir.chmod(0o700)
        signer = note.generate_signer(ORIGIN_PREFIX + secrets.token_hex(8))
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(note.format_signer(signer) + "\n")
    public = note.format_verifier(signer.verifier())
    if not pub_path.exists() or pub_path.read_text().strip() != public:
        pub_path.write_text(public + "\n")
    return public


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@audit_app.command("key")
def audit_key() -> None:
    """Print the log's public verifier key, from keys/audit.pub in the home; made at first use."""
    from creditgraph.settings import get_settings

    try:
        public = load_or_create_log_signer(get_settings().home_dir / "keys")
    except (AuditKeyFileError, OSError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(public)


@audit_app.command("verify-receipt")
def audit_verify_receipt(
    file: Path = typer.Argument(..., help="The receipt (C2SP tlog-proof text)."),
    key: str = typer.Option(
        ..., "--key", help="The log's verifier key string, or a file holding one."
    ),
    origin: str | None = typer.Option(
        None, "--origin", help="The log's origin, if not the key's name."
    ),
) -> None:
    """Check a receipt offline: the log's signature, the origin and the inclusion proof."""
    from creditgraph.audit import note
    from creditgraph.audit.receipt import ReceiptError, verify_receipt

    try:
        key_path = Path(key)
        key_text = key_path.read_text().strip() if key_path.is_file() else key.strip()
        verifier = note.parse_verifier(key_text)
    except (note.NoteError, OSError, UnicodeDecodeError) as exc:
        raise _fail(f"log key: {exc}") from None
    try:
        receipt = file.read_bytes()
    except OSError as exc:
        raise _fail(f"receipt {file}: {exc.strerror or exc}") from None
    try:
        verified = verify_receipt(receipt, verifier, origin=origin)
    except ReceiptError as exc:
        raise _fail(f"receipt {file} refused: {exc}") from None
    checkpoint = verified.checkpoint
    typer.echo(
        f"verified: index {verified.index} in tree of size {checkpoint.size}, "
        f"origin {checkpoint.origin}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
