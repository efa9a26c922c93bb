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
    master_key_file: Path | None = Field(
        default=None,
        description="Master key that wraps each person's data key; default <home>/keys/master.key.",
    )
    subject_request_days: int = Field(
        default=15,
        ge=1,
        le=60,
        description="Days to answer a subject request (PIPL Art. 50: timely; 15 calendar days "
        "is stricter than GB/T 35273 practice's 15 working days).",
    )
    monitoring_actions_file: Path | None = Field(
        default=None,
        description="Action policy of risk monitoring's alerts (TOML); default the packaged "
        "monitoring/actions.toml.",
    )
    ingest_chunk_rows: int = Field(
        default=200_000, ge=1_000, description="Rows per streamed chunk."
    )
    duckdb_memory_limit: str | None = Field(
        default=None,
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="Memory DuckDB may use for feature queries (default: DuckDB's, 80% of RAM).",
    )
    ingest_lease_seconds: int = Field(
        default=300,
        ge=10,
        description="Silence after which a running ingest batch of another host is taken as "
        "abandoned (its process refreshes a heartbeat five times per lease; PostgreSQL).",
    )

    # HTTP API limits (docs/security.md): request size and shape, slow clients, failed logins.
    api_max_body_bytes: int = Field(
        default=1_048_576, ge=1_024, description="Largest request body; 413 above it."
    )
    api_max_json_depth: int = Field(
        default=32, ge=2, le=1_000, description="Deepest JSON nesting a body may have."
    )
    api_header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Time a client has to send a request's headers."
    )
    api_body_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Time a client has to send a request's whole body."
    )
    api_keep_alive_seconds: int = Field(
        default=5, ge=1, description="Idle time before a keep-alive connection is closed."
    )
    api_limit_concurrency: int = Field(
        default=256, ge=1, description="Connections served at once; 503 beyond."
    )
    auth_lockout_failures: int = Field(
        default=10, ge=1, description="Failed logins per key prefix and address that lock both."
    )
    auth_lockout_address_failures: int = Field(
        default=50, ge=1, description="Failed logins from one address that lock the address."
    )
    auth_lockout_window_seconds: int = Field(
        default=300, ge=1, description="Window in which failed logins are counted."
    )
    auth_lockout_seconds: int = Field(
        default=900, ge=1, description="How long a lock-out lasts; 429 with Retry-After."
    )
    # The web workspace (docs/web.md): sessions and the log-in lock-out.
    web_session_idle_minutes: int = Field(
        default=30, ge=1, description="A workspace session ends after this long without a request."
    )
    web_session_hours: int = Field(
        default=12,
        ge=1,
        description="A workspace session ends this long after log-in, in any case.",
    )
    web_lockout_failures: int = Field(
        default=5, ge=1, description="Failed log-ins in a row that lock a workspace account."
    )
    web_lockout_minutes: int = Field(
        default=15, ge=1, description="How long a locked workspace account stays locked."
    )
    web_secure_cookies: bool = Field(
        default=False,
        description="Mark session cookies Secure even on plain HTTP (behind a TLS proxy); "
        "they always are on HTTPS.",
    )
    # Monitoring (docs/monitoring.md): the event bus and the files that steer the detectors.
    event_bus_url: str | None = Field(
        default=None,
        description="redis://... for Redis Streams; unset: the embedded outbox in the database.",
    )
    monitoring_config: Path | None = Field(
        default=None, description="Detector thresholds (TOML); unset: the packaged default."
    )

    # Audit log (docs/audit.md): the k-of-n witness policy a checkpoint must meet to be published.
    audit_witness_policy: Path | None = Field(
        default=None,
        description="Witness policy (TOML) with each witness's key and URL; unset: no witnesses.",
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
    def keys_dir(self) -> Path:
        return self.home_dir / "keys"

    @property
    def key_file(self) -> Path:
        return self.pseudonym_key_file or self.home_dir / "keys" / "pseudonym.key"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings; tests build their own ``Settings`` instead of patching this."""
    return Settings()
