"""Pseudonymisation at the door: a validated event's identifiers become the pseudonyms ingest uses.

An event about ``P1`` must join the person ingest stored for ``P1``, a device or phone seen in an
event must meet the same device or phone in the lake, and no raw identifier may travel further
than this door. So every field the contract marks ``pseudonymise`` is mapped with the same key
(``settings.key_file``) and the same namespace as ingest, and phones by their digits, as ingest
links people who share a number (``+86 138-0000-0000`` and ``8613800000000`` are one number).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from creditgraph.contracts.schema import Namespace
from creditgraph.monitoring.events import Event
from creditgraph.privacy.pseudonym import Pseudonymiser, load_or_create_key
from creditgraph.settings import Settings


def phone_digits(phone: str) -> str:
    """A phone number as ingest compares it: its digits only."""
    return "".join(ch for ch in phone if ch.isdigit())


class Door:
    """Maps the identifier fields of validated events to their pseudonyms."""

    def __init__(self, pseudonymiser: Pseudonymiser) -> None:
        self._pseudonymiser = pseudonymiser

    @classmethod
    def from_settings(cls, settings: Settings) -> Door:
        """A door keyed like ingest: the pseudonym key of this home, created on first use."""
        return cls(Pseudonymiser(load_or_create_key(settings.key_file)))

    def identifier(self, namespace: Namespace, raw: str) -> str:
        """The pseudonym of one raw identifier, exactly as ingest stores it."""
        key = phone_digits(raw) if namespace is Namespace.PHONE else raw
        return self._pseudonymiser.one(namespace, key)

    def pseudonymise(self, event: Event) -> Event:
        """The event with every identifier field replaced by its pseudonym; nothing else changes."""
        values = dict(event.values)
        for field in event.spec.all_fields:
            if field.pseudonymise is not None and field.name in values:
                values[field.name] = self.identifier(field.pseudonymise, str(values[field.name]))
        return replace(event, person_id=str(values["person_id"]), values=values)

    def pseudonymise_all(self, events: Iterable[Event]) -> list[Event]:
        return [self.pseudonymise(event) for event in events]
