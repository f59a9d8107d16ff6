"""The whole system with three tiers: on the filesystem, on one S3 endpoint, and with COLD on a second S3
endpoint signing with credentials of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from shoebox.testing import RunningSystem, run_system
from shoebox_lib.settings import Settings


@pytest.fixture(params=["filesystem", "s3", "s3-cold-elsewhere"])
def three_tier_settings(request: pytest.FixtureRequest, system_settings: Callable[..., Settings]
                        ) -> Callable[..., Settings]:
    base: dict[str, Any] = {"bucket_cold": "c-" + system_settings().bucket_primary.removeprefix("p-")}
    if request.param == "s3":
        base.update(request.getfixturevalue("s3_settings"))
    elif request.param == "s3-cold-elsewhere":
        base = request.getfixturevalue("s3_cold_elsewhere_settings")

    def make(**overrides: Any) -> Settings:
        return system_settings(**{**base, **overrides})

    return make


@pytest.fixture
async def three_tiers(three_tier_settings: Callable[..., Settings]) -> AsyncIterator[RunningSystem]:
    async with run_system(three_tier_settings()) as running:
        yield running
