"""What the demo's stages share: the settings, the world's size and seed, the console, and each
stage's results for the stages after it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from creditgraph.settings import Settings


@dataclass
class DemoContext:
    settings: Settings
    people: int
    seed: int
    console: Console
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def input_dir(self) -> Path:
        return self.settings.home_dir / "demo-input" / f"people-{self.people}-seed-{self.seed}"


Stage = Callable[[DemoContext], None]
