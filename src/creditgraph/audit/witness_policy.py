"""A k-of-n witness policy: which witnesses' cosignatures a checkpoint needs before it is trusted.

The log publishes a checkpoint, and a partner trusts one, only when the policy is met, so a
log that forks its view has to fool a quorum of independent witnesses, not one. The shape
follows Sigsum's policy files: named witnesses with their cosigning keys, groups of members
(witnesses or earlier groups) with a threshold, and one quorum naming a witness or group.

In TOML::

    quorum = "partners"

    [[witnesses]]
    name = "bank-a"
    key = "witness.bank-a.example/w1+1a2b3c4d+BK..."

    [[groups]]
    name = "partners"
    threshold = 2
    members = ["bank-a", "bank-b", "auditor"]

Pure: reading the file is the caller's job.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator

from creditgraph.audit.cosignature import CosignatureVerifier, parse_verifier
from creditgraph.audit.note import NoteError
from creditgraph.configmodel import FrozenConfig, describe


class WitnessPolicyError(ValueError):
    """The witness policy is invalid; the message names the field."""


class PolicyWitness(FrozenConfig):
    """One witness: a name used in groups, and its cosigning verifier key string (type 0x04)."""

    name: str = Field(min_length=1)
    key: str
    url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    """Where the log sends add-checkpoint (the witness's URL prefix); a partner's copy of the
    policy, used only to check cosignatures, may leave it out."""

    @field_validator("key")
    @classmethod
    def _valid_key(cls, value: str) -> str:
        try:
            parse_verifier(value)
        except NoteError as exc:
            raise ValueError(str(exc)) from None
        return value

    def verifier(self) -> CosignatureVerifier:
        return parse_verifier(self.key)


class PolicyGroup(FrozenConfig):
    """At least ``threshold`` of ``members`` (witnesses or groups defined before it) must agree."""

    name: str = Field(min_length=1)
    threshold: int = Field(ge=1)
    members: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _threshold_fits(self) -> PolicyGroup:
        if len(set(self.members)) != len(self.members):
            raise ValueError(f"group {self.name!r} lists a member twice")
        if self.threshold > len(self.members):
            raise ValueError(
                f"group {self.name!r} needs {self.threshold} of only {len(self.members)} members"
            )
        return self


class WitnessPolicy(FrozenConfig):
    """Witnesses, groups and the quorum a checkpoint's cosignatures must satisfy."""

    witnesses: tuple[PolicyWitness, ...] = Field(min_length=1)
    groups: tuple[PolicyGroup, ...] = ()
    quorum: str

    @model_validator(mode="after")
    def _consistent(self) -> WitnessPolicy:
        defined: set[str] = set()
        keys: dict[bytes, str] = {}
        key_names: set[str] = set()
        for witness in self.witnesses:
            if witness.name in defined:
                raise ValueError(f"name {witness.name!r} is defined twice")
            defined.add(witness.name)
            verifier = witness.verifier()
            if verifier.public_key in keys:
                raise ValueError(
                    f"witnesses {keys[verifier.public_key]!r} and {witness.name!r} share a key "
                    f"(a cosignature does not sign the name, so one key is one witness)"
                )
            keys[verifier.public_key] = witness.name
            if verifier.name in key_names:
                raise ValueError(f"two witness keys are named {verifier.name!r}")
            key_names.add(verifier.name)
        for group in self.groups:
            if group.name in defined:
                raise ValueError(f"name {group.name!r} is defined twice")
            for member in group.members:
                if member not in defined:
                    raise ValueError(
                        f"group {group.name!r} names {member!r}, not a witness or earlier group"
                    )
            defined.add(group.name)
        if self.quorum not in defined:
            raise ValueError(f"quorum {self.quorum!r} is not a witness or group")
        return self

    def verifiers(self) -> tuple[CosignatureVerifier, ...]:
        """Every witness's key, to pass to ``cosignature.verify_cosignatures``."""
        return tuple(witness.verifier() for witness in self.witnesses)


def parse_witness_policy(raw: dict[str, Any]) -> WitnessPolicy:
    """A policy from a parsed TOML document; an invalid one raises with its field path."""
    try:
        return WitnessPolicy.model_validate(raw)
    except ValidationError as exc:
        raise WitnessPolicyError(f"invalid witness policy: {describe(exc)}") from None


def satisfied(policy: WitnessPolicy, verified_cosigners: Iterable[str]) -> bool:
    """Whether the witnesses whose cosignatures verified (their key names, as
    ``verify_cosignatures`` returns them) meet the policy's quorum."""
    signed = set(verified_cosigners)
    met: dict[str, bool] = {
        witness.name: witness.verifier().name in signed for witness in policy.witnesses
    }
    for group in policy.groups:  # members are defined before their group
        met[group.name] = sum(met[member] for member in group.members) >= group.threshold
    return met[policy.quorum]
