"""Settings shared by every service: environment variables with the prefix `SHOEBOX_`.

Every setting has a default that works for the embedded run (`shoebox dev`); production mode refuses
the development secret.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "shoebox-development-secret-do-not-use-in-production"

Tier = Literal["primary", "secondary", "cold"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOEBOX_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    log_level: str = "INFO"
    data_dir: Path = Path(".shoebox")

    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    database_pool_size: int = 5
    nats_url: str = "nats://127.0.0.1:4222"
    # Stream and subject names start with this, so two installations (or two tests) can share a NATS.
    bus_prefix: str = Field(default="shoebox", pattern=r"^[a-z][a-z0-9_]{0,30}$")

    # Where clients reach the system (the gateway, or the all-in-one port), and where services reach
    # each other for the few synchronous calls a person waits on.
    public_url: str = "http://127.0.0.1:8000"
    auth_url: str = "http://127.0.0.1:8000"
    metadata_url: str = "http://127.0.0.1:8000"
    internal_timeout_seconds: float = 5.0

    secret_key: str = DEV_SECRET

    jwt_issuer: str = "shoebox"
    jwt_audience: str = "shoebox"
    access_token_ttl_seconds: int = 24 * 3600
    jwks_cache_seconds: int = 300

    admin_email: str = "admin@shoebox.local"
    admin_password: str | None = None

    storage_driver: Literal["filesystem", "s3"] = "filesystem"
    storage_root: Path | None = None  # filesystem driver; defaults to <data_dir>/storage
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    bucket_primary: str = "shoebox-primary"
    bucket_secondary: str = "shoebox-secondary"
    bucket_cold: str | None = None
    presign_expiry_seconds: int = Field(default=900, ge=1, le=7 * 24 * 3600)

    # What a new account may store in PRIMARY (replicas are free).
    default_quota_bytes: int = Field(default=100 * 1024**3, ge=0)

    bus_max_deliver: int = 8
    bus_ack_wait_seconds: float = 60.0

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def storage_path(self) -> Path:
        return (self.storage_root or self.data_dir / "storage").resolve()

    def tiers(self) -> dict[Tier, str]:
        """The bucket of every configured tier, PRIMARY first."""
        tiers: dict[Tier, str] = {"primary": self.bucket_primary, "secondary": self.bucket_secondary}
        if self.bucket_cold:
            tiers["cold"] = self.bucket_cold
        return tiers

    def check_production(self) -> None:
        """Refuse to run in production on a secret everybody can read in our source."""
        if self.is_production and self.secret_key == DEV_SECRET:
            raise RuntimeError(
                "SHOEBOX_SECRET_KEY is the development default; set a long random secret "
                "before running with SHOEBOX_ENVIRONMENT=production"
            )


@lru_cache
def get_settings() -> Settings:
    return Settings()
