"""What the decision service refuses, by kind: the HTTP edge maps each kind to a status."""

from __future__ import annotations


class DecisionServiceError(ValueError):
    """A request the service cannot carry out; the message says what and why."""


class UnknownPersonError(DecisionServiceError):
    """No online features for the person: nothing to decide on."""


class NotFoundError(DecisionServiceError):
    """No decision or review request with that id."""


class NoModelError(DecisionServiceError):
    """No champion model is promoted: nothing can be scored."""


class ReviewStateError(DecisionServiceError):
    """A review step that does not fit the request's state (e.g. resolving it twice)."""
