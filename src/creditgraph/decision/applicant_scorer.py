"""Scoring a looked-up applicant with the champion, into the decision engine's raw context.

Without consent no social feature reaches a model: they are masked to missing, and the person
is scored by the ``no_social`` champion, which learnt without them. A home that has none yet
falls back to the social champion on the masked inputs (its missing bins).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from creditgraph.decision.applicant import Applicant
from creditgraph.decision.context import raw_context
from creditgraph.decision.rules import Policy
from creditgraph.decision.service_errors import NoModelError
from creditgraph.features.catalogue import social_feature_names
from creditgraph.scoring.models import LoadedModel
from creditgraph.scoring.registry import NO_SOCIAL, SOCIAL, RegistryError
from creditgraph.scoring.service import OnlineScorer


class ApplicantScorer:
    """The champions of one process (cached by ``OnlineScorer``) and the social feature names."""

    def __init__(self, engine: Engine) -> None:
        self.scorer = OnlineScorer(engine)
        self._social = social_feature_names()

    def warm_up(self) -> None:
        """Load the champions now, so the first decision does not pay for it."""
        for variant in (SOCIAL, NO_SOCIAL):
            try:
                self.scorer.model(variant)
            except RegistryError:
                continue

    def context(self, found: Applicant, policy: Policy) -> dict[str, Any]:
        """The applicant context of the decision core, scored with the right champion."""
        values = found.features
        consent = found.consent.valid
        inputs = (
            values
            if consent
            else {k: (None if k in self._social else v) for k, v in values.items()}
        )
        scored = self.model_for(consent).score_one(inputs)
        return raw_context(values, scored, policy, consent=consent, sources=found.consent.sources)

    def model_for(self, consent: bool) -> LoadedModel:
        if not consent:
            try:
                return self.scorer.model(NO_SOCIAL)
            except RegistryError:
                pass
        try:
            return self.scorer.model(SOCIAL)
        except RegistryError as exc:
            raise NoModelError(f"cannot score: {exc}") from None
