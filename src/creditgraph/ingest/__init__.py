"""Ingestion: readers, validation against the contract, consent gate, quarantine, lake and database.

What belongs here: getting a lender's files in, whole or not at all: resolving inputs, streaming
readers, the consent gate, quarantine of bad rows, crash-safe batches and their recovery, and the
writes to the lake and the database. Validation rules themselves are the contract's.
"""
