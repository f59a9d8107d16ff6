"""Settings only compute reads (prefix `SHOEBOX_COMPUTE_`); the shared ones are in shoebox_lib."""

from __future__ import annotations

import os

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

GIB = 1024**3


class ComputeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOEBOX_COMPUTE_", extra="ignore")

    job_max_upload_bytes: int = Field(
        default=5 * GIB, ge=1,
        description="The most bytes the uploaded files of one job (CL's POST /jobs/{task_type}) may hold "
                    "together (default 5368709120, 5 GiB). A larger Content-Length is refused before any byte "
                    "is read; a body that grows past it is refused and leaves nothing stored.")
    job_max_files: int = Field(
        default=16, ge=1, le=256,
        description="How many uploaded files one job may take (default 16).")
    builtin_slots: int = Field(
        default_factory=lambda: max(2, os.cpu_count() or 2), ge=0, le=64,
        description="How many jobs the built-in worker of each compute process runs at once (default: the "
                    "machine's cores, at least 2; 0 runs no built-in worker, leaving every task to plug-ins).")


# What `shoebox config` reads from every `shoebox_<service>.settings`.
SETTINGS_CLASS = ComputeSettings
