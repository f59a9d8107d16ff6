"""/healthz with a storage tier down: a replica tier (SECONDARY) degrades the services that use storage, which
go on answering 200 and say which tier is down; PRIMARY down fails them (503). Through the one port and each
service's own /healthz. The tier is made unavailable for real: its directory is moved away, then back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from shoebox.testing import RunningSystem, run_system
from shoebox_lib.settings import Settings
from shoebox_lib.storage import Storage

STORAGE_USERS = ("metadata", "uploads", "replicator", "compute")


def storage_of(api: RunningSystem) -> Storage:
    storage: Storage = api.services["replicator"].app.state.runtime.storage
    return storage


async def test_a_replica_tier_down_degrades_and_primary_down_fails(api: RunningSystem) -> None:
    healthy = await api.client.get("/healthz")
    assert healthy.status_code == 200
    assert healthy.json()["status"] == "ok"

    for tier, status, code in (("secondary", "degraded", 200), ("primary", "failing", 503)):
        root = Path(storage_of(api).tier(tier).root)  # type: ignore[attr-defined]
        away = root.with_name(root.name + "-away")
        root.rename(away)
        try:
            whole = await api.client.get("/healthz")
            assert whole.status_code == code, whole.text
            assert whole.json()["status"] == status
            for name in STORAGE_USERS:
                service = whole.json()["services"][name]
                assert service["status"] == status, name
                assert service["checks"][f"storage.{tier}"].startswith("failing"), name
                assert service["checks"]["database"] == "ok"
                own = await api.client.get(f"/services/{name}/healthz")
                assert (own.status_code, own.json()["status"]) == (code, status), name
            assert whole.json()["services"]["auth"]["status"] == "ok"  # auth keeps no objects
        finally:
            away.rename(root)
        assert (await api.client.get("/healthz")).json()["status"] == "ok"


async def test_a_full_replica_tier_degrades_and_is_named_full(system_settings: Callable[..., Settings]) -> None:
    """SECONDARY "full": its own minimum of free space above what the disk has (the check is the comparison of
    that minimum with the disk's own `statvfs` figures), PRIMARY on the same disk keeping the default."""
    async with run_system(system_settings(secondary_storage_min_free_bytes=2**62)) as api:
        whole = await api.client.get("/healthz")
        assert whole.status_code == 200, whole.text
        assert whole.json()["status"] == "degraded"
        for name in STORAGE_USERS:
            checks = whole.json()["services"][name]["checks"]
            assert checks["storage.secondary"].startswith("failing: StorageFull: storage "), (name, checks)
            assert "is full" in checks["storage.secondary"]
            assert "below the minimum of" in checks["storage.secondary"]
            assert checks["storage.primary"] == "ok", (name, checks)
        assert whole.json()["services"]["auth"]["status"] == "ok"
