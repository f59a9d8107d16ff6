"""Settings only the upload signer reads (prefix `SHOEBOX_UPLOADS_`); the shared ones are in shoebox_lib."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class UploadsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOEBOX_UPLOADS_", extra="ignore")

    session_seconds: int = Field(
        default=24 * 3600, ge=1,
        description="How long a resumable upload session stays open, in seconds (default 86400, a day). Also "
                    "capped by the quota hold's own lifetime at metadata, so a session never outlives its bytes.")
    single_put_seconds: int = Field(
        default=900, ge=1,
        description="Lifetime of a URL for one whole object in one request (Ente's /files/upload-urls and "
                    "/files/upload-url, Uppy's /s3/params), in seconds, and never longer than "
                    "SHOEBOX_PRESIGN_EXPIRY_SECONDS (default 900, 15 minutes). Such a URL cannot be revoked, and "
                    "Ente's unsized ones write outside any quota hold until the commit or the sweeper, so it is "
                    "kept short even where the shared setting is raised for downloads; much shorter would "
                    "expire the 50 URLs an Ente client fetches at once before a slow client uses them.")
    max_open_sessions: int = Field(
        default=1000, ge=1,
        description="How many uploads one account may have open at once (sessions that can still take writes: "
                    "open or being completed, not past their expiry; Ente URLs not yet committed count while "
                    "they are valid). Beyond it a new upload is refused with 429 TOO_MANY_OPEN_UPLOADS "
                    "(default 1000; a real client keeps at most a few dozen open).")
    commit_grace_seconds: int = Field(
        default=3600, ge=0,
        description="How long an object handed to an Ente client may wait, after its URL expired, for POST /files "
                    "to commit it before the sweeper deletes it, in seconds (default 3600).")
    stale_multipart_seconds: int = Field(
        default=25 * 3600, ge=0,
        description="A multipart upload in storage older than this many seconds that no live session owns is "
                    "aborted as abandoned (default 90000, 25 hours).")
    apply_grace_seconds: int = Field(
        default=600, ge=1,
        description="How long after a library upload completed metadata may take to apply it before the sweeper "
                    "asks, and sends the completion again if it was not (an event lost or dead-lettered), in "
                    "seconds; at most once per this period per upload (default 600).")
    sweep_interval_seconds: float = Field(
        default=60.0, gt=0,
        description="Seconds between passes of the sweeper of abandoned uploads (default 60).")
    finalize_interval_seconds: float = Field(
        default=2.0, gt=0,
        description="Seconds between looks for form uploads (Uppy's /s3/params) that arrived in storage, and "
                    "between passes of the SHA-256 verifier (default 2).")


# What `shoebox config` reads from every `shoebox_<service>.settings`.
SETTINGS_CLASS = UploadsSettings
