"""Settings only the upload signer reads (prefix `SHOEBOX_UPLOADS_`); the shared ones are in shoebox_lib."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class UploadsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOEBOX_UPLOADS_", extra="ignore")

    # How long a resumable session stays open. Capped by the quota reservation's own lifetime at metadata
    # (24 h), so a session never outlives the bytes held for it.
    session_seconds: int = Field(default=24 * 3600, ge=1)
    # How long an object handed out to an Ente client may wait, after its URL expired, for POST /files
    # to commit it before the sweeper deletes it.
    commit_grace_seconds: int = Field(default=3600, ge=0)
    # A multipart upload in storage older than this that no open session owns is abandoned.
    stale_multipart_seconds: int = Field(default=25 * 3600, ge=0)
    sweep_interval_seconds: float = Field(default=60.0, gt=0)
    # How often form uploads (Uppy's /s3/params) are looked for in storage, and checksums verified.
    finalize_interval_seconds: float = Field(default=2.0, gt=0)
