"""Uploads through the CL store, processed by the built-in worker in the running system: a video gets its
poster-frame variants and its length, a photo its EXIF capture time and upright variants, a corrupt file a
clean failure."""

from __future__ import annotations

import asyncio
from typing import Any

from shoebox.testing import ADMIN_EMAIL, ADMIN_PASSWORD, RunningSystem
from shoebox.testing.cl_client import ClClient
from shoebox_compute.media import samples

WAIT_SECONDS = 90


async def processed(cl: ClClient, entity_id: int) -> dict[str, Any]:
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            body: dict[str, Any] = (await cl.get_entity(entity_id)).json()
            if body["intelligence_data"]["overall_status"] in ("completed", "failed"):
                return body
            await asyncio.sleep(0.2)


async def test_uploads_get_their_variants_and_what_their_files_say(api: RunningSystem) -> None:
    cl = ClClient(api.client)
    await cl.login(ADMIN_EMAIL, ADMIN_PASSWORD)

    video = await cl.upload(samples.mp4(), filename="clip.mp4", content_type="video/mp4")
    photo = await cl.upload(samples.exif_jpeg(), filename="photo.jpg", content_type="image/jpeg")
    broken = await cl.upload(b"\xff\xd8\xff\xe0 not really a jpeg" * 10, filename="broken.jpg",
                             content_type="image/jpeg")

    seen_video = await processed(cl, video.id)
    assert seen_video["intelligence_data"]["overall_status"] == "completed"
    assert seen_video["type"] == "video"
    assert (seen_video["duration"] or 0) > 0
    assert seen_video["width"]
    assert seen_video["height"]
    poster = await cl.get_preview(video.id)
    assert poster.status_code == 200
    assert poster.headers["content-type"] == "image/jpeg"
    assert poster.content[:2] == b"\xff\xd8"

    seen_photo = await processed(cl, photo.id)
    assert seen_photo["intelligence_data"]["overall_status"] == "completed"
    assert seen_photo["create_date"] != seen_photo["added_date"], "the EXIF capture time, not the upload's"
    assert (await cl.get_preview(photo.id)).status_code == 200

    seen_broken = await processed(cl, broken.id)
    assert seen_broken["intelligence_data"]["overall_status"] == "failed"
    assert (await cl.get_preview(broken.id)).status_code == 404
