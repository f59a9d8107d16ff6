"""Settings of Ente sign-in, read from the environment like every Shoebox setting (prefix `SHOEBOX_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EnteSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOEBOX_", extra="ignore")

    # Without a host, codes are written to the log: enough for one person running `shoebox dev`.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "Shoebox <no-reply@shoebox.local>"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)

    ott_ttl_seconds: int = Field(default=600, ge=30)
    ott_max_wrong_attempts: int = Field(default=5, ge=1)
    srp_session_ttl_seconds: int = Field(default=300, ge=10)
