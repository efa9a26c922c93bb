"""``/v1/health``."""

from __future__ import annotations

from pydantic import BaseModel, Field


class HealthOut(BaseModel):
    """The server is up and its database answers."""

    status: str = Field(description="Always ok: a failing database is a 500.", examples=["ok"])
    version: str = Field(description="The creditgraph version serving.")
