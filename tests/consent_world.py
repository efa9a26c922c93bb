"""The tiny hand-made world of ``tests.world`` ingested, with consents under real text versions,
for the consent, purpose and revocation tests."""

from __future__ import annotations

from pathlib import Path

from creditgraph.contracts.schema import Namespace
from creditgraph.ingest.service import ingest
from creditgraph.privacy.pseudonym import Pseudonymiser, load_or_create_key
from creditgraph.settings import Settings
from tests import world

CONSENTS = [
    ["P1", "wechat", "credit_assessment", "2024-06-01", "", "", "true", "2024.1"],
    ["P1", "wechat", "monitoring", "2024-06-01", "", "", "false", "2024.1"],
    # P2 consents, then revokes on 2025-06-01
    ["P2", "wechat", "credit_assessment", "2024-06-01", "", "2025-06-01", "false", "2024.1"],
    # P3 gave only a monitoring consent: no credit assessment
    ["P3", "wechat", "monitoring", "2024-06-01", "", "", "false", "2024.1"],
    # P4 consents for weibo only, until 2025-12-31
    ["P4", "weibo", "credit_assessment", "2024-06-01", "2025-12-31", "", "false", "2024.1"],
]


def ingest_world(directory: Path, settings: Settings) -> None:
    files = world.write_world(directory)
    world.write_csv(directory / "consents.csv", world.CONSENT_COLUMNS, CONSENTS)
    ingest(sorted(files), settings)


def pseudonym(settings: Settings, external_id: str) -> str:
    return Pseudonymiser(load_or_create_key(settings.key_file)).one(Namespace.PERSON, external_id)
