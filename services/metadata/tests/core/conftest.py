"""Metadata's cores over a real, freshly migrated database and real storage, without booting any service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from shoebox_lib.settings import Settings
from shoebox_metadata.testing import DEFAULT_QUOTA, Core, running_core


@pytest.fixture
async def core(make_settings: Callable[..., Settings]) -> AsyncIterator[Core]:
    async with running_core(make_settings(default_quota_bytes=DEFAULT_QUOTA)) as running:
        yield running
