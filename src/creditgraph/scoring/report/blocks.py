"""The pieces a report section is made of, as plain data the templates turn into HTML.

Sections say *what* to show (a heading, a table, a figure, a gap and its reason); the templates
in ``templates/`` decide the markup, and Jinja2's autoescaping keeps every supplied text inert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, TypeAlias


@dataclass(frozen=True)
class Badge:
    """A short verdict coloured by its status (``stable``, ``watch`` or ``alert``)."""

    text: str
    status: str


Cell: TypeAlias = "str | int | float | Badge"


@dataclass(frozen=True)
class Heading:
    kind: ClassVar[str] = "heading"
    text: str


@dataclass(frozen=True)
class Paragraph:
    kind: ClassVar[str] = "paragraph"
    text: str
    css_class: str = ""


@dataclass(frozen=True)
class NotAvailable:
    """A part of the report that cannot be shown, and why: gaps are stated, never hidden."""

    kind: ClassVar[str] = "not_available"
    reason: str


@dataclass(frozen=True)
class Table:
    kind: ClassVar[str] = "table"
    headers: Sequence[str]
    rows: Sequence[Sequence[Cell]]


@dataclass(frozen=True)
class Image:
    """A figure as base64 PNG bytes, embedded so the file opens without the network."""

    kind: ClassVar[str] = "image"
    png_base64: str
    alt: str


@dataclass(frozen=True)
class Details:
    """A table folded under a summary line (one per variable, so long reports stay readable)."""

    kind: ClassVar[str] = "details"
    summary: str
    table: Table


@dataclass(frozen=True)
class Methods:
    """The methods note; its thresholds come from the code that applies them."""

    kind: ClassVar[str] = "methods"
    psi_epsilon: str
    psi_watch: str
    psi_alert: str
    four_fifths: str


Block: TypeAlias = "Heading | Paragraph | NotAvailable | Table | Image | Details | Methods"


def columns(spec: str) -> list[str]:
    """Column headings written as one ``|``-separated string."""
    return spec.split("|")
