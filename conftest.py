"""Fixtures shared by every test directory: the whole system, running in-process on a real port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from shoebox.testing import ADMIN_EMAIL, ADMIN_PASSWORD, RunningSystem, run_system
from shoebox_lib.embedded import free_port
from shoebox_lib.settings import Settings


@pytest.fixture
def system_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        url = f"http://127.0.0.1:{free_port()}"
        return make_settings(public_url=url, auth_url=url, metadata_url=url, admin_email=ADMIN_EMAIL,
                             admin_password=ADMIN_PASSWORD, **overrides)

    return make


@pytest.fixture(params=["filesystem", "s3"])
async def system(request: pytest.FixtureRequest, system_settings: Callable[..., Settings]
                 ) -> AsyncIterator[RunningSystem]:
    """The whole system on one port, on each storage driver."""
    overrides: dict[str, Any] = {}
    if request.param == "s3":
        overrides = request.getfixturevalue("s3_settings")
    async with run_system(system_settings(**overrides)) as running:
        yield running


@pytest.fixture
async def api(system_settings: Callable[..., Settings]) -> AsyncIterator[RunningSystem]:
    """The whole system on the filesystem driver, for tests of the API rather than of storage."""
    async with run_system(system_settings()) as running:
        yield running


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
    """The whole system with three tiers: on the filesystem, on one S3 endpoint, and with COLD on a second S3
    endpoint signing with credentials of its own."""
    async with run_system(three_tier_settings()) as running:
        yield running
