"""One typed Settings object, read from PATRON_* environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PATRON_", extra="ignore")

    database_url: str = "sqlite:///patron.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    env: str = "dev"  # dev | test | prod
    secret_key: str = ""  # signs session cookies; required outside dev/test
    workers: int = Field(default=1, ge=1)
    log_level: str = "info"
    # Served processes move their start-up objects out of the collector's reach (ADR 23);
    # off only to measure what that changes.
    freeze_heap: bool = True
    # Tracking API limits, as Segment's HTTP API.
    max_event_bytes: int = 32 * 1024
    max_batch_bytes: int = 500 * 1024
    # Clock skew correction: sentAt further than this from receivedAt is corrected.
    job_poll_seconds: float = 0.5
    job_lease_seconds: int = Field(default=300, ge=1)
    # Extra modules a worker imports at start; each registers handlers with
    # patron.jobs.handlers.register (plugins, and the tests' own handlers).
    job_modules: str = ""
    # Sentiment reads text with the multilingual sentence encoder as well as n-grams (ADR 27);
    # off (PATRON_SENTIMENT_ENCODER=0) it uses the n-gram models alone, 100x cheaper.
    sentiment_encoder: bool = True

    def check_safe(self) -> None:
        """Unsafe defaults refuse to start outside dev and test."""
        if self.env not in ("dev", "test") and len(self.secret_key) < 32:
            raise RuntimeError(
                "PATRON_SECRET_KEY must be set (32+ characters) when PATRON_ENV=prod"
            )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
