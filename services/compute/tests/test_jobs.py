"""The broker and built-in workers inside the running system."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from shoebox.testing import RunningSystem
from shoebox.testing.flow import bearer, upload
from shoebox_compute.models import Job
from shoebox_lib.ids import parse_image_id


async def jobs_of(api: RunningSystem, item_id: int) -> list[Job]:
    db = api.services["compute"].app.state.runtime.db
    async with db.transaction() as session:
        return list((await session.execute(select(Job).where(Job.item_id == item_id))).scalars())


async def image(api: RunningSystem, token: str, image_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await api.client.get(f"/v1/images/{image_id}", headers=bearer(token))).json()
    return body


async def test_a_file_that_lies_about_being_an_image_fails_its_jobs_cleanly(api: RunningSystem) -> None:
    token = await api.token()
    uploaded = await upload(api.client, token, b"GIF89a but not really", filename="x.png", content_type="image/png")
    failed = [{"name": name, "width": None, "height": None, "status": "failed"} for name in ("thumb", "medium")]
    async with asyncio.timeout(60):
        while sorted((await image(api, token, uploaded.image_id))["variants"], key=lambda v: v["name"]) != \
                sorted(failed, key=lambda v: str(v["name"])):
            await asyncio.sleep(0.1)
    jobs = await jobs_of(api, parse_image_id(uploaded.image_id))
    assert sorted(j.task_type for j in jobs) == ["metadata", "thumbnail", "thumbnail"]
    assert {j.status for j in jobs} == {"failed"}
    assert all(j.attempts == 1 for j in jobs), "a permanent failure is not retried"
    assert all(j.error for j in jobs), "the error is kept"
    view = await api.client.get(f"/v1/images/{uploaded.image_id}:view?variant=thumb", headers=bearer(token))
    assert view.status_code == 409


async def test_files_that_are_not_images_get_no_jobs(api: RunningSystem) -> None:
    token = await api.token()
    uploaded = await upload(api.client, token, b"%PDF-1.4", filename="doc.pdf", content_type="application/pdf")
    async with asyncio.timeout(30):
        while (await image(api, token, uploaded.image_id))["status"] != "ready":
            await asyncio.sleep(0.1)
    assert await jobs_of(api, parse_image_id(uploaded.image_id)) == []
