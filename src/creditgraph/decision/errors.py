"""Errors of the decision core; each names the product, rule or field so a caller can act on it."""

from __future__ import annotations


class CatalogueError(ValueError):
    """A product catalogue that fails validation: the message names the product and the field."""


class PolicyError(ValueError):
    """A policy or decision configuration that fails validation: names the rule or the field."""


class DecisionInputError(ValueError):
    """An application or applicant context the engine cannot decide on; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
