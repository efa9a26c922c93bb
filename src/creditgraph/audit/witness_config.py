"""A witness's configuration file: its key file, its database, and the logs it witnesses.

In TOML (paths relative to the file)::

    name = "witness.partner-bank.example"   # optional: the key file carries the name
    key_file = "witness.key"                 # made by `creditgraph witness init`, mode 0600
    database = "witness.db"

    [[logs]]
    origin = "creditgraph.local/log-0123abcd89ef4567"
    keys = ["creditgraph.local/log-0123abcd89ef4567+1a2b3c4d+AR..."]

Each log lists its signed-note verifier keys (several while the log rotates its key); a
checkpoint is cosigned only if one of them signed it. The witness's own key is a cosigning key
(type 0x04) kept in its own file, never in this one, so the file can be shared and reviewed.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, ValidationError, field_validator, model_validator

from creditgraph.audit import note
from creditgraph.audit.cosignature import CosignatureSigner, generate_cosigner
from creditgraph.audit.note import NoteError, Verifier
from creditgraph.audit.witness_key import format_cosigner, parse_cosigner
from creditgraph.configmodel import FrozenConfig, describe


class WitnessConfigError(ValueError):
    """The witness's configuration or key file is unusable; the message names the file and why."""


def _check_origin(origin: str) -> str:
    if not origin:
        raise ValueError("origin is empty")
    if origin != origin.strip() or any(ch.isspace() for ch in origin):
        raise ValueError(f"origin {origin!r} contains a space")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in origin):
        raise ValueError(f"origin {origin!r} contains a control character")
    if "+" in origin:
        raise ValueError(f"origin {origin!r} contains '+'")
    return origin


class WitnessedLog(FrozenConfig):
    """One log: its checkpoint origin line and the verifier keys trusted to sign it."""

    origin: str
    keys: tuple[str, ...] = Field(min_length=1)

    @field_validator("origin")
    @classmethod
    def _valid_origin(cls, value: str) -> str:
        return _check_origin(value)

    @field_validator("keys")
    @classmethod
    def _valid_keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for key in value:
            try:
                note.parse_verifier(key)
            except NoteError as exc:
                raise ValueError(f"{exc} (a log's key is a signed-note verifier key)") from None
        return value

    def verifiers(self) -> tuple[Verifier, ...]:
        return tuple(note.parse_verifier(key) for key in self.keys)


class WitnessConfigModel(FrozenConfig):
    """The file as written: name, key file, database, logs (each origin once)."""

    name: str | None = None
    key_file: str = Field(default="witness.key", min_length=1)
    database: str = Field(default="witness.db", min_length=1)
    logs: tuple[WitnessedLog, ...] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                note.key_id(value, bytes(32))  # the key-name rules of signed notes
            except NoteError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _origins_once(self) -> WitnessConfigModel:
        seen: set[str] = set()
        for log in self.logs:
            if log.origin in seen:
                raise ValueError(f"origin {log.origin!r} is listed twice")
            seen.add(log.origin)
        return self


@dataclass(frozen=True)
class WitnessConfig:
    """The configuration with its paths resolved against the file's folder."""

    path: Path
    name: str | None
    key_file: Path
    database: Path
    log_keys: Mapping[str, tuple[Verifier, ...]]


def parse_witness_config(raw: dict[str, object], path: Path) -> WitnessConfig:
    """The configuration from a parsed TOML document read from ``path``."""
    try:
        model = WitnessConfigModel.model_validate(raw)
    except ValidationError as exc:
        raise WitnessConfigError(
            f"{path}: invalid witness configuration: {describe(exc)}"
        ) from None
    base = path.parent
    return WitnessConfig(
        path=path,
        name=model.name,
        key_file=base / model.key_file,
        database=base / model.database,
        log_keys={log.origin: log.verifiers() for log in model.logs},
    )


def load_witness_config(path: Path) -> WitnessConfig:
    """Read and validate the configuration file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WitnessConfigError(f"{path}: no such configuration file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WitnessConfigError(f"{path}: cannot read the configuration: {exc}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WitnessConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_witness_config(raw, path)


def load_cosigner(config: WitnessConfig) -> CosignatureSigner:
    """The witness's cosigning key from its key file, which must be closed to group and others."""
    path = config.key_file
    try:
        mode = path.stat().st_mode & 0o777
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise WitnessConfigError(
            f"{path}: no key file; run `creditgraph witness init --config {config.path}`"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WitnessConfigError(f"{path}: cannot read the key file: {exc}") from None
    if mode & 0o077:
        raise WitnessConfigError(f"{path}: key file must not be readable by others (mode {mode:o})")
    try:
        signer = parse_cosigner(text)
    except NoteError as exc:
        raise WitnessConfigError(f"{path}: not a witness key: {exc}") from None
    if config.name is not None and config.name != signer.name:
        raise WitnessConfigError(
            f"{path}: the key is named {signer.name!r} but the configuration says {config.name!r}"
        )
    return signer


def create_cosigner(config: WitnessConfig, name: str) -> CosignatureSigner:
    """A new cosigning key named ``name`` written to the key file (0600); never overwrites."""
    if config.name is not None and config.name != name:
        raise WitnessConfigError(
            f"{config.path}: the configuration names the witness {config.name!r}, not {name!r}"
        )
    try:
        signer = generate_cosigner(name)
    except NoteError as exc:
        raise WitnessConfigError(f"witness name {name!r}: {exc}") from None
    path = config.key_file
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise WitnessConfigError(f"{path}: a key file already exists; not overwriting it") from None
    except OSError as exc:
        raise WitnessConfigError(f"{path}: cannot create the key file: {exc}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(format_cosigner(signer) + "\n")
    return signer
