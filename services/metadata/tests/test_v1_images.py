"""The v1 image routes: shapes, bad input, and other people's images."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shoebox.testing import RunningSystem
from shoebox.testing.flow import bearer, make_png, upload, wait_processed


async def create(api: RunningSystem, token: str, **overrides: Any) -> Any:
    body = {"filename": "a.png", "content_type": "image/png", "size_bytes": 10, **overrides}
    return await api.client.post("/v1/images", headers=bearer(token), json=body)


async def test_created_image_has_the_seed_shape(api: RunningSystem) -> None:
    token = await api.token()
    created = await create(api, token, visibility="unlisted", title="Cat")
    assert created.status_code == 201
    image_id = created.json()["image_id"]
    assert image_id.startswith("img_")
    got = (await api.client.get(f"/v1/images/{image_id}", headers=bearer(token))).json()
    assert got["status"] == "upload_pending"
    assert got["visibility"] == "unlisted"
    assert got["title"] == "Cat"
    assert got["original"]["size_bytes"] is None
    assert got["size_bytes"] == 10
    assert isinstance(got["created_at_ms"], int)


@pytest.mark.parametrize("bad", [
    {"size_bytes": -1},
    {"filename": ""},
    {"content_type": "not a type"},
    {"visibility": "everyone"},
    {"client_sha256": "xyz"},
])
async def test_bad_input_is_a_400_in_the_envelope(api: RunningSystem, bad: dict[str, Any]) -> None:
    response = await create(api, await api.token(), **bad)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "VALIDATION_ERROR"
    assert body["details"]
    assert body["requestId"] == response.headers["x-request-id"]


async def test_nobody_sees_anybody_elses_image(api: RunningSystem) -> None:
    owner = await api.user_token("olga")
    intruder = await api.user_token("ivan")
    uploaded = await upload(api.client, owner, make_png(64, 64))
    await wait_processed(api.client, owner, uploaded.image_id)
    for path in (f"/v1/images/{uploaded.image_id}", f"/v1/images/{uploaded.image_id}:view",
                 f"/v1/images/{uploaded.image_id}:view?variant=thumb", f"/v1/images/{uploaded.image_id}:download"):
        response = await api.client.get(path, headers=bearer(intruder))
        assert response.status_code == 404, path
        assert response.json()["error"] == "NOT_FOUND"
    # A missing id and someone else's answer alike.
    missing = await api.client.get("/v1/images/img_999999999", headers=bearer(intruder))
    assert missing.status_code == 404
    assert missing.json()["message"] == (await api.client.get(
        f"/v1/images/{uploaded.image_id}", headers=bearer(intruder))).json()["message"]


@pytest.mark.parametrize("image_id", ["img_", "img_abc", "img_1e5", "img_-1", "12345678901234567890123", "img_\uff11"])
async def test_malformed_ids_are_404_not_500(api: RunningSystem, image_id: str) -> None:
    response = await api.client.get(f"/v1/images/{image_id}", headers=bearer(await api.token()))
    assert response.status_code == 404


async def test_viewing_before_upload_or_an_unknown_variant_is_a_clear_4xx(api: RunningSystem) -> None:
    token = await api.token()
    image_id = (await create(api, token)).json()["image_id"]
    pending = await api.client.get(f"/v1/images/{image_id}:view", headers=bearer(token))
    assert pending.status_code == 409
    uploaded = await upload(api.client, token, make_png(32, 32))
    await wait_processed(api.client, token, uploaded.image_id)
    unknown = await api.client.get(f"/v1/images/{uploaded.image_id}:view?variant=huge", headers=bearer(token))
    assert unknown.status_code == 404


async def test_download_url_asks_for_an_attachment(api: RunningSystem) -> None:
    token = await api.token()
    uploaded = await upload(api.client, token, make_png(16, 16), filename="tiny.png")
    await wait_processed(api.client, token, uploaded.image_id)
    signed = await api.client.get(f"/v1/images/{uploaded.image_id}:download", headers=bearer(token))
    assert signed.status_code == 200
    async with httpx.AsyncClient() as storage:
        got = await storage.get(signed.json()["url"])
    assert got.status_code == 200
    assert got.headers["content-disposition"].startswith("attachment")
    assert "tiny.png" in got.headers["content-disposition"]


async def test_storage_usage_counts_stored_originals_only(api: RunningSystem) -> None:
    token = await api.user_token("uma")
    empty = (await api.client.get("/storage/usage", headers=bearer(token))).json()
    assert (empty["used"], empty["fileCount"]) == (0, 0)
    await create(api, token)  # declared but never uploaded: not counted
    data = make_png(50, 40)
    uploaded = await upload(api.client, token, data)
    await wait_processed(api.client, token, uploaded.image_id)
    usage = (await api.client.get("/storage/usage", headers=bearer(token))).json()
    assert (usage["used"], usage["usage"], usage["fileCount"]) == (len(data), len(data), 1)
    assert usage["quota"] == api.settings.default_quota_bytes
    assert usage["available"] == usage["quota"] - len(data)
    assert usage["formattedQuota"] == "100.0 GB"
