"""Object storage: one driver interface, an S3 driver and a filesystem driver, one driver per tier."""

from shoebox_lib.storage.base import ObjectInfo, PartInfo, StorageDriver
from shoebox_lib.storage.tiers import Storage

__all__ = ["ObjectInfo", "PartInfo", "Storage", "StorageDriver"]
