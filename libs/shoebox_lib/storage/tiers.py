"""The storage of a process: one driver per configured tier, built from settings."""

from __future__ import annotations

from shoebox_lib.settings import Settings, Tier
from shoebox_lib.storage.base import StorageDriver


class Storage:
    def __init__(self, tiers: dict[Tier, StorageDriver]) -> None:
        if "primary" not in tiers:
            raise ValueError("a PRIMARY tier is required")
        self.tiers = tiers

    @property
    def primary(self) -> StorageDriver:
        return self.tiers["primary"]

    def tier(self, name: Tier) -> StorageDriver:
        return self.tiers[name]

    @classmethod
    def from_settings(cls, settings: Settings) -> Storage:
        drivers: dict[Tier, StorageDriver] = {}
        for tier, bucket in settings.tiers().items():
            if settings.storage_driver == "s3":
                from shoebox_lib.storage.s3 import S3Driver

                drivers[tier] = S3Driver(settings, bucket, endpoint=settings.s3_endpoint(tier))
            else:
                from shoebox_lib.storage.filesystem import FilesystemDriver

                drivers[tier] = FilesystemDriver(settings, bucket)
        return cls(drivers)

    async def start(self) -> None:
        for driver in self.tiers.values():
            await driver.start()

    async def close(self) -> None:
        for driver in self.tiers.values():
            await driver.close()

    async def ping(self) -> None:
        for driver in self.tiers.values():
            await driver.ping()
