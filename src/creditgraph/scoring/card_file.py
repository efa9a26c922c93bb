"""The scorecard artifact as a file: write a card, read one back, or read one ready to score.

The only scoring module with the card that touches the file system, so the card, its codec and the
scorer stay pure and a deployment needs nothing but this module, numpy and the standard library.
"""

from __future__ import annotations

import json
from pathlib import Path

from creditgraph.scoring.card import Card
from creditgraph.scoring.card_codec import ArtifactError, card_from_dict, card_to_json
from creditgraph.scoring.scorer import Scorer


def save(card: Card, path: Path) -> None:
    path.write_text(card_to_json(card), encoding="utf-8")


def load(path: Path) -> Card:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path} is not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{path} is not a scorecard artifact")
    return card_from_dict(data)


def load_scorer(path: Path) -> Scorer:
    return Scorer(load(path))
