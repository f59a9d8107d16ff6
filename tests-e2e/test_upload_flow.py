"""One upload, end to end, through the one port: on the filesystem and on the S3 driver."""

from __future__ import annotations

import io
import os

from PIL import Image

from shoebox.testing import RunningSystem
from shoebox.testing.flow import bearer, fetch_variant, make_png, upload, wait_processed


async def test_an_image_is_stored_replicated_measured_and_thumbnailed(system: RunningSystem) -> None:
    token = await system.token()
    data = make_png(640, 480)
    uploaded = await upload(system.client, token, data)
    assert uploaded.complete["status"] == "stored"
    assert uploaded.complete["image_id"] == uploaded.image_id

    body = await wait_processed(system.client, token, uploaded.image_id)
    assert body["original"] == {**body["original"], "width": 640, "height": 480, "format": "png",
                                "size_bytes": len(data)}
    assert {"name": "thumb", "width": 256, "height": 192, "status": "ready"} in body["variants"]

    assert await fetch_variant(system.client, token, uploaded.image_id, "original") == data
    thumb = Image.open(io.BytesIO(await fetch_variant(system.client, token, uploaded.image_id, "thumb")))
    thumb.load()
    assert thumb.format == "JPEG"
    assert thumb.size == (256, 192)

    # The replica in SECONDARY holds the same bytes as PRIMARY.
    storage = system.services["metadata"].app.state.runtime.storage
    view = (await system.client.get(f"/v1/images/{uploaded.image_id}", headers=bearer(token))).json()
    assert view["replicas"]
    key = uploaded.complete["original_object_key"]
    assert await storage.tier("secondary").get_bytes(key) == data


async def test_a_multipart_upload_reassembles_byte_identical(system: RunningSystem) -> None:
    token = await system.token()
    # Not an image: stored and replicated, but compute has nothing to do with it.
    data = os.urandom(9 * 1024 * 1024 + 12345)
    uploaded = await upload(system.client, token, data, filename="clip.bin", content_type="application/octet-stream")
    assert uploaded.complete["size_bytes"] == len(data)
    body = await wait_processed(system.client, token, uploaded.image_id)
    assert body["variants"] == []
    assert body["original"]["width"] is None
    assert await fetch_variant(system.client, token, uploaded.image_id, "original") == data
