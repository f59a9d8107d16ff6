"""Hostile values at the edge of every upload face (issue 9, defect 1): integers past 64 bits, NUL and other
control characters, oversized Uppy metadata. Each is the face's 400, never a 500."""

from __future__ import annotations

from typing import Any

from shoebox.testing import RunningSystem
from shoebox.testing.flow import bearer
from shoebox_uploads.testing import ente_headers

BEYOND = 2**63  # one past bigint
NUL = "a\x00b"


def ente_error(response: Any) -> None:
    assert response.status_code == 400, response.text
    assert set(response.json()) >= {"code", "message"}


def uppy_error(response: Any) -> None:
    assert response.status_code == 400, response.text
    assert "message" in response.json()


async def test_the_ente_face_refuses_hostile_values(api: RunningSystem) -> None:
    token = await api.user_token("eve")
    ente = ente_headers(token)
    for path, params in (("/files/upload-urls", {"count": BEYOND}), ("/files/multipart-upload-urls", {"count": BEYOND}),
                         ("/files/multipart-upload-urls", {"count": 1, "parts": BEYOND})):
        ente_error(await api.client.get(path, params=params, headers=ente))
    bodies: list[tuple[str, dict[str, Any]]] = [
        ("/files/upload-url", {"contentLength": BEYOND, "contentMD5": "x"}),
        ("/files/upload-url", {"contentLength": 10, "contentMD5": NUL}),
        ("/files/multipart-upload-url", {"contentLength": BEYOND, "partLength": 1, "partMd5s": ["x"]}),
        ("/files/multipart-upload-url", {"contentLength": 10, "partLength": BEYOND, "partMd5s": ["x"]}),
        ("/files/multipart-upload-url", {"contentLength": 10, "partLength": 10, "partMd5s": [NUL]}),
        ("/files/multipart-complete", {"objectKey": NUL, "parts": [{"partNumber": 1, "eTag": "e"}]}),
        ("/files/multipart-complete", {"objectKey": "k", "parts": [{"partNumber": BEYOND, "eTag": "e"}]}),
        ("/files/multipart-complete", {"objectKey": "k", "parts": [{"partNumber": 1, "eTag": NUL}]}),
    ]
    for path, body in bodies:
        ente_error(await api.client.post(path, headers=ente, json=body))
    ente_error(await api.client.get("/public-collection/upload-urls", params={"count": BEYOND},
                                    headers={"X-Auth-Access-Token": "t"}))


async def test_the_v1_face_refuses_hostile_values(api: RunningSystem) -> None:
    token = await api.user_token("fay")
    for body in ({"image_id": "img_1", "total_bytes": BEYOND},
                 {"image_id": "img_1", "total_bytes": 1, "content_type": NUL}):
        refused = await api.client.post("/v1/uploads:resumable", headers=bearer(token), json=body)
        assert refused.status_code == 400, (body, refused.text)
        assert refused.json()["error"] == "VALIDATION_ERROR"
    # An id that is not an image's is nobody's image, whatever it holds.
    nobody = await api.client.post("/v1/uploads:resumable", headers=bearer(token),
                                   json={"image_id": NUL, "total_bytes": 1})
    assert nobody.status_code == 404, nobody.text
    for path in ("/v1/uploads/a%00b", "/v1/uploads/a%01b/parts/1", f"/v1/uploads/up_x/parts/{BEYOND}"):
        method = "GET" if path.count("/") == 3 else "POST"
        refused = await api.client.request(method, path, headers=bearer(token))
        assert refused.status_code == 400, (path, refused.text)
    complete = await api.client.post("/v1/uploads/up_x:complete", headers=bearer(token),
                                     json={"parts": [{"part_number": 1, "etag": NUL}]})
    assert complete.status_code == 400, complete.text


async def test_the_uppy_face_refuses_hostile_values(api: RunningSystem) -> None:
    token = await api.user_token("gus")
    headers = bearer(token)
    for body in ({"filename": NUL}, {"type": "text/\x07plain"}, {"metadata": {"name": NUL}},
                 {"metadata": {"caption": ["nested", {"deep": "a\x1bb"}]}}, {"metadata": {NUL: "key"}},
                 {"metadata": {"size": BEYOND}}, {"metadata": {"note": "x" * 20_000}}):
        uppy_error(await api.client.post("/s3/multipart", headers=headers, json=body))
    for params in ({"filename": NUL}, {"metadata[name]": NUL, "metadata[size]": "3"},
                   {"metadata[size]": str(BEYOND)}, {"metadata[size]": "٣"}):
        uppy_error(await api.client.get("/s3/params", params=params, headers=headers))
    fine = await api.client.post("/s3/multipart", headers=headers, json={
        "filename": "日本語, a tab\tok.jpg", "type": "image/jpeg",
        "metadata": {"name": "日本語.jpg", "type": "image/jpeg", "relativePath": None, "size": 5}})
    assert fine.status_code == 200, fine.text
    upload_id, key = fine.json()["uploadId"], fine.json()["key"]
    for path, params in ((f"/s3/multipart/{upload_id}/{BEYOND}", {"key": key}),
                         (f"/s3/multipart/{upload_id}/1", {"key": NUL}),
                         (f"/s3/multipart/{upload_id}/batch", {"key": key, "partNumbers": "1,٣"}),
                         (f"/s3/multipart/{upload_id}/batch", {"key": key, "partNumbers": "1," + "9" * 5000}),
                         ("/s3/multipart/a%00b", {"key": key})):
        uppy_error(await api.client.get(path, params=params, headers=headers))
    for parts in ([{"PartNumber": BEYOND, "ETag": "e"}], [{"PartNumber": 1, "ETag": NUL}]):
        uppy_error(await api.client.post(f"/s3/multipart/{upload_id}/complete", params={"key": key},
                                         headers=headers, json={"parts": parts}))
