"""Errors that stop a batch before anything is written."""


class IngestInputError(Exception):
    """The input cannot be read at all; the message is one line naming the file and the cause."""
