"""Settings from the environment, so one build runs on a laptop, in CI and in production."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob the platform reads; each may be set as ``CREDITGRAPH_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CREDITGRAPH_", extra="ignore")

    home: Path = Field(default=Path(".creditgraph"), description="Working directory for data.")
    db_url: str | None = Field(default=None, description="SQLAlchemy URL of the OLTP database.")
    timezone: str = Field(
        default="Asia/Shanghai",
        description="Business time zone: timestamps given without an offset are read in it.",
    )
    pseudonym_key_file: Path | None = Field(
        default=None,
        description="Key for identifier pseudonyms; default <home>/keys/pseudonym.key.",
    )
    ingest_chunk_rows: int = Field(
        default=200_000, ge=1_000, description="Rows per streamed chunk."
    )
    duckdb_memory_limit: str | None = Field(
        default=None,
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="Memory DuckDB may use for feature queries (default: DuckDB's, 80% of RAM).",
    )

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.home_dir / 'creditgraph.db'}"

    @property
    def lake_dir(self) -> Path:
        return self.home_dir / "lake"

    @property
    def quarantine_dir(self) -> Path:
        return self.home_dir / "quarantine"

    @property
    def key_file(self) -> Path:
        return self.pseudonym_key_file or self.home_dir / "keys" / "pseudonym.key"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings; tests build their own ``Settings`` instead of patching this."""
    return Settings()
