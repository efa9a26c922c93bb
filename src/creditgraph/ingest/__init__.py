"""Ingestion: readers, validation against the contract, consent gate, quarantine, lake and database."""
