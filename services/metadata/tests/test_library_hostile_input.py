"""Hostile input at metadata's faces (issue 9): integers past bigint, NUL in text, malformed object keys and
oversized free-form fields are each a 400 in the face's shape, never a 500; `sinceTime` takes ASCII digits
only; Ente's 404s come in one shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shoebox.testing import RunningSystem
from shoebox.testing.ente_helpers import file_body, header, new_album, put_object, user_id
from shoebox.testing.flow import bearer
from shoebox_metadata.api.ente_shapes import MAX_ATTRIBUTES, MAX_ENCRYPTED, MAX_NAME

BEYOND = (2**63, -(2**63) - 1)  # the first integers past bigint on either side
NUL = "a\x00b"
ENTE_ERROR = {"code", "message", "requestId"}
V1_ERROR = {"error", "message", "details", "requestId"}
MISSING = 987654321

Json = Any


def magic() -> dict[str, Any]:
    return {"version": 0, "count": 1, "data": "d", "header": "h"}


def any_file(album: int = 1) -> dict[str, Any]:
    """A commit that passes validation (whether storage holds its objects is checked later)."""
    return {
        "collectionID": album, "encryptedKey": "ek", "keyDecryptionNonce": "kn",
        "file": {"objectKey": "u/1/e/f", "decryptionHeader": "fh", "size": 1},
        "thumbnail": {"objectKey": "u/1/e/t", "decryptionHeader": "th", "size": 1},
        "metadata": {"encryptedData": "md", "decryptionHeader": "mh"},
        "magicMetadata": magic(), "pubMagicMetadata": magic(), "sha256": "ab" * 32,
    }


def key(file_id: int = 1) -> dict[str, Any]:
    return {"id": file_id, "encryptedKey": "k", "keyDecryptionNonce": "n"}


# Every body the Ente face and seed 000 take, with every field a client may send.
ENTE_BODIES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/files", any_file()),
    ("PUT", "/files/update", {**any_file(), "id": 1}),
    ("PUT", "/files/magic-metadata", {"metadataList": [{"id": 1, "magicMetadata": magic()}]}),
    ("PUT", "/files/public-magic-metadata", {"metadataList": [{"id": 1, "magicMetadata": magic()}]}),
    ("POST", "/files/trash", {"items": [{"fileID": 1, "collectionID": 1}], "fileIds": [1]}),
    ("POST", "/files/info", {"fileIDs": [1]}),
    ("POST", "/files/size", {"fileIDs": [1]}),
    ("POST", "/files/restore", {"fileIDs": [1]}),
    ("POST", "/files/delete", {"fileIDs": [1]}),
    ("PUT", "/files/thumbnail", {"fileID": 1, "thumbnail": {"objectKey": "u/1/e/t", "decryptionHeader": "h",
                                                            "size": 1}}),
    ("POST", "/collections", {
        "encryptedKey": "k", "keyDecryptionNonce": "n", "encryptedName": "en", "nameDecryptionNonce": "nn",
        "name": "plain", "type": "album", "attributes": {"encryptedPath": "p", "version": 1},
        "magicMetadata": magic(), "pubMagicMetadata": magic(), "app": "photos"}),
    ("POST", "/collections/add-files", {"collectionID": 1, "files": [key()]}),
    ("POST", "/collections/move-files", {"fromCollectionID": 1, "toCollectionID": 2, "files": [key()]}),
    ("POST", "/collections/v3/remove-files", {"collectionID": 1, "fileIDs": [1]}),
    ("POST", "/collections/share", {"collectionID": 1, "email": "a@example.com", "encryptedKey": "k",
                                    "role": "VIEWER"}),
    ("POST", "/collections/unshare", {"collectionID": 1, "email": "a@example.com"}),
    ("POST", "/collections/share-url", {"collectionID": 1, "validTill": 0, "deviceLimit": 0}),
    ("PUT", "/collections/share-url", {"collectionID": 1, "validTill": 0, "deviceLimit": 0, "passHash": "p",
                                       "nonce": "n", "memLimit": 1, "opsLimit": 1}),
    ("POST", "/trash/delete", {"fileIDs": [1]}),
    ("POST", "/trash/empty", {"lastUpdatedAt": 1}),
    ("POST", "/public/collections", {"collectionID": 1, "validTill": 0}),
    ("POST", "/public-collection/verify-password", {"passHash": "p"}),
    ("POST", "/public-collection/file", any_file(0)),
    ("POST", "/public/collections/some-token/commit-file", any_file(0)),
]
ADMIN_BODIES: list[tuple[str, str, dict[str, Any]]] = [
    ("PUT", "/storage/admin/quota/1", {"quota": 1}),
    ("POST", "/storage/admin/bonus/1", {"bonus": 1}),
]
V1_BODIES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v1/images", {"filename": "a.png", "content_type": "image/png", "size_bytes": 1,
                            "album_id": "alb_1", "title": "Cat"}),
]
# Every integer in a path or query, with a request around it.
ENTE_PARAMETERS: list[tuple[str, str, dict[str, Any], dict[str, Any] | None]] = [
    ("GET", "/files/download/{}", {}, None),
    ("GET", "/files/preview/{}", {}, None),
    ("DELETE", "/collections/share-url/{}", {}, None),
    ("GET", "/collections/v2/diff", {"collectionID": "{}"}, None),
    ("GET", "/collections/v2/diff", {"collectionID": 1, "sinceTime": "{}"}, None),
    ("GET", "/collections/v2", {"sinceTime": "{}"}, None),
    ("GET", "/collections", {"sinceTime": "{}"}, None),
    ("GET", "/trash/v2/diff", {"sinceTime": "{}"}, None),
    ("POST", "/files/restore", {"collectionID": "{}"}, {"fileIDs": [1]}),
    ("GET", "/public-collection/diff", {"sinceTime": "{}"}, None),
    ("GET", "/public-collection/files/preview/{}", {}, None),
    ("GET", "/public-collection/files/download/{}", {}, None),
    ("GET", "/public/collections/some-token/preview/{}", {}, None),
]
ADMIN_PARAMETERS: list[tuple[str, str, dict[str, Any], dict[str, Any] | None]] = [
    ("PUT", "/storage/admin/quota/{}", {}, {"quota": 1}),
    ("POST", "/storage/admin/bonus/{}", {}, {"bonus": 1}),
    ("GET", "/storage/admin/usage/{}", {}, None),
]


def leaves(value: Json, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Json]]:
    if isinstance(value, dict):
        for name, inner in value.items():
            yield from leaves(inner, (*path, name))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from leaves(inner, (*path, index))
    else:
        yield path, value


def replaced(value: Json, path: tuple[str | int, ...], new: Json) -> Json:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, str(head): replaced(value[str(head)], rest, new)}
    copy = list(value)
    copy[int(head)] = replaced(copy[int(head)], rest, new)
    return copy


def variations(body: dict[str, Any], kind: type) -> Iterator[tuple[str, dict[str, Any]]]:
    """The body with one value of `kind` at a time made hostile."""
    for path, value in leaves(body):
        if isinstance(value, bool) or not isinstance(value, kind):
            continue
        label = ".".join(map(str, path))
        for bad in (BEYOND if kind is int else (NUL,)):
            yield f"{label} = {bad!r}", replaced(body, path, bad)


class Findings:
    """Every request that did not answer a 400 in its face's shape."""

    def __init__(self, api: RunningSystem) -> None:
        self.api = api
        self.wrong: list[str] = []
        self.checked = 0

    async def expect_400(self, method: str, path: str, what: str, shape: set[str], headers: dict[str, str],
                         body: Json = None, params: dict[str, Any] | None = None) -> None:
        response = await self.api.client.request(method, path, headers=headers, json=body, params=params)
        self.checked += 1
        answer = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        if response.status_code != 400 or set(answer) != shape or answer.get("code", answer.get("error")) \
                != "VALIDATION_ERROR":
            self.wrong.append(f"{method} {path} {what}: {response.status_code} {response.text[:200]}")


async def test_integers_past_bigint_are_a_400_in_the_faces_shape(api: RunningSystem) -> None:
    token, admin = await api.user_token("ines"), await api.token()
    link = await _link_token(api, token)
    found = Findings(api)
    for bodies, who in ((ENTE_BODIES, token), (ADMIN_BODIES, admin)):
        for method, path, body in bodies:
            for what, bad in variations(body, int):
                await found.expect_400(method, path.replace("some-token", link), what, ENTE_ERROR,
                                       {**header(who), "X-Auth-Access-Token": link}, body=bad)
    for parameters, who in ((ENTE_PARAMETERS, token), (ADMIN_PARAMETERS, admin)):
        for method, path, params, sent in parameters:
            for beyond in BEYOND:
                where = path.replace("{}", str(beyond)).replace("some-token", link)
                query = {k: (str(beyond) if v == "{}" else v) for k, v in params.items()}
                await found.expect_400(method, where, f"{params or path} = {beyond}", ENTE_ERROR,
                                       {**header(who), "X-Auth-Access-Token": link}, body=sent, params=query)
    assert found.checked > 100
    assert not found.wrong, "\n".join(found.wrong)
    # The example the issue found: nothing reached PostgreSQL.
    trash = await api.client.post("/trash/delete", headers=header(token), json={"fileIDs": [9223372036854775808]})
    assert (trash.status_code, trash.json()["code"]) == (400, "VALIDATION_ERROR")


async def test_nul_in_any_string_of_any_body_is_a_400_in_the_faces_shape(api: RunningSystem) -> None:
    token, admin = await api.user_token("jon"), await api.token()
    link = await _link_token(api, token)
    found = Findings(api)
    for bodies, who, shape in ((ENTE_BODIES, token, ENTE_ERROR), (ADMIN_BODIES, admin, ENTE_ERROR),
                               (V1_BODIES, token, V1_ERROR)):
        for method, path, body in bodies:
            for what, bad in variations(body, str):
                await found.expect_400(method, path.replace("some-token", link), what, shape,
                                       {**header(who), **bearer(who), "X-Auth-Access-Token": link}, body=bad)
    # NUL in a key of free-form JSON, and in the query and the path.
    await found.expect_400("POST", "/collections", "attributes key", ENTE_ERROR, header(token), body={
        "encryptedKey": "k", "keyDecryptionNonce": "n", "attributes": {NUL: 1}})
    for path, params in (("/collections/v2", {"sinceTime": NUL}), ("/trash/v2/diff", {"sinceTime": NUL}),
                         ("/public/collections/a%00b", None), ("/public/files/a%00b", None)):
        await found.expect_400("GET", path, f"{params or path}", ENTE_ERROR, header(token), params=params)
    images = await api.client.post("/v1/images", headers=bearer(token), json={
        "filename": "a.png", "content_type": "image/png", "size_bytes": 1})
    await found.expect_400("GET", f"/v1/images/{images.json()['image_id']}:view", "variant", V1_ERROR,
                           bearer(token), params={"variant": NUL})
    assert found.checked > 80
    assert not found.wrong, "\n".join(found.wrong)


async def test_malformed_object_keys_are_a_400_in_entes_shape(api: RunningSystem) -> None:
    token = await api.user_token("kim")
    me = user_id(token)
    album = await new_album(api, token)
    committed = (await api.client.post("/files", headers=header(token), json=await file_body(api, token, album))
                 ).json()
    malformed = ["..", f"u/{me}/e/../../{me + 1}/e/x", f"u/{me}/e//x", f"/u/{me}/e/x", f"u/{me}/e/a b",
                 f"u/{me}/e/a\x00b", f"u/{me}/e/./x", f"u/{me}/e/x\n", "u/" + "x" * 2000,
                 f"u/{me + 1}/e/{committed['file']['objectKey'].rsplit('/', 1)[1]}"]  # not under the caller's prefix
    found = Findings(api)
    for bad in malformed:
        body = await file_body(api, token, album)
        await found.expect_400("POST", "/files", f"file.objectKey = {bad!r}", ENTE_ERROR, header(token),
                               body={**body, "file": {**body["file"], "objectKey": bad}})
        await found.expect_400("POST", "/files", f"thumbnail.objectKey = {bad!r}", ENTE_ERROR, header(token),
                               body={**body, "thumbnail": {**body["thumbnail"], "objectKey": bad}})
        await found.expect_400("PUT", "/files/thumbnail", f"thumbnail.objectKey = {bad!r}", ENTE_ERROR,
                               header(token), body={"fileID": committed["id"], "thumbnail": {
                                   "objectKey": bad, "decryptionHeader": "h", "size": 1}})
    assert not found.wrong, "\n".join(found.wrong)
    # A well-formed key of the caller's is still taken.
    fresh = await put_object(api, me, 7)
    replaced_thumb = await api.client.put("/files/thumbnail", headers=header(token), json={
        "fileID": committed["id"], "thumbnail": {"objectKey": fresh, "decryptionHeader": "h", "size": 7}})
    assert replaced_thumb.status_code == 200, replaced_thumb.text


async def test_free_form_fields_are_capped_far_above_what_clients_send(api: RunningSystem) -> None:
    token = await api.user_token("lena")
    album = await new_album(api, token)
    collection = {"encryptedKey": "k", "keyDecryptionNonce": "n"}
    # What a real client sends passes: an encrypted folder path, a few KB of magic metadata.
    typical = await api.client.post("/collections", headers=header(token), json={
        **collection, "attributes": {"encryptedPath": "p" * 4000, "pathDecryptionNonce": "n" * 32, "version": 1},
        "magicMetadata": {**magic(), "data": "d" * 4000}})
    assert typical.status_code == 200, typical.text
    listed = (await api.client.get("/collections/v2", headers=header(token))).json()["collections"]
    assert {c["id"]: c["attributes"] for c in listed}[typical.json()["id"]]["encryptedPath"] == "p" * 4000

    found = Findings(api)
    body = await file_body(api, token, album)
    for what, method, path, oversized in (
        ("attributes", "POST", "/collections", {**collection, "attributes": {"p": "x" * MAX_ATTRIBUTES}}),
        ("encryptedName", "POST", "/collections", {**collection, "encryptedName": "x" * (MAX_NAME + 1)}),
        ("collection magicMetadata", "POST", "/collections",
         {**collection, "magicMetadata": {**magic(), "data": "x" * (MAX_ENCRYPTED + 1)}}),
        ("metadata.encryptedData", "POST", "/files",
         {**body, "metadata": {"encryptedData": "x" * (MAX_ENCRYPTED + 1), "decryptionHeader": "h"}}),
        ("file pubMagicMetadata", "POST", "/files", {**body, "pubMagicMetadata": {
            **magic(), "data": "x" * (MAX_ENCRYPTED + 1)}}),
        ("magic-metadata", "PUT", "/files/magic-metadata", {"metadataList": [{"id": 1, "magicMetadata": {
            **magic(), "data": "x" * (MAX_ENCRYPTED + 1)}}]}),
    ):
        await found.expect_400(method, path, what, ENTE_ERROR, header(token), body=oversized)
    assert not found.wrong, "\n".join(found.wrong)


async def test_since_time_takes_ascii_digits_or_an_iso_time_within_bigint(api: RunningSystem) -> None:
    token = await api.user_token("milo")
    album = await new_album(api, token)
    found = Findings(api)
    for since in ("\u0663", "\uff11", "1\u0663", "-1", "9223372036854775808", "99999999999999999999999", "1e5",
                  "\u0662\u0660\u0662\u0660-01-01"):
        for path, params in (("/collections/v2", {}), ("/trash/v2/diff", {}),
                             ("/collections/v2/diff", {"collectionID": album})):
            await found.expect_400("GET", path, f"sinceTime = {since!r}", ENTE_ERROR, header(token),
                                   params={**params, "sinceTime": since})
    assert not found.wrong, "\n".join(found.wrong)
    for since in ("0", " 12 ", "9223372036854775807", "2000-01-01T00:00:00Z"):
        ok = await api.client.get("/collections/v2", headers=header(token), params={"sinceTime": since})
        assert ok.status_code == 200, (since, ok.text)


async def test_entes_404s_come_in_one_shape(api: RunningSystem) -> None:
    token = await api.user_token("nell")
    link = await _link_token(api, token)
    viewer = {"X-Auth-Access-Token": link}
    missing: list[tuple[str, str, dict[str, str], Json]] = [
        ("GET", f"/files/download/{MISSING}", header(token), None),
        ("GET", f"/files/preview/{MISSING}", header(token), None),
        ("POST", "/files/info", header(token), {"fileIDs": [MISSING]}),
        ("POST", "/files/trash", header(token), {"items": [{"fileID": MISSING, "collectionID": MISSING}]}),
        ("POST", "/trash/delete", header(token), {"fileIDs": [MISSING]}),
        ("GET", f"/collections/v2/diff?collectionID={MISSING}", header(token), None),
        ("POST", "/collections/add-files", header(token), {"collectionID": MISSING, "files": [key(MISSING)]}),
        ("DELETE", f"/collections/share-url/{MISSING}", header(token), None),
        ("PUT", "/files/thumbnail", header(token), {"fileID": MISSING, "thumbnail": {
            "objectKey": await put_object(api, user_id(token), 3), "decryptionHeader": "h", "size": 3}}),
        ("GET", f"/public-collection/files/preview/{MISSING}", viewer, None),
        ("GET", f"/public/collections/{link}/preview/{MISSING}", {}, None),
        ("GET", "/public/files/no-such-link-token", {}, None),
        # Paths no route has, beside the Ente face's own.
        ("GET", "/files/no-such-route", header(token), None),
        ("GET", "/collections/v9/no-such-route", header(token), None),
    ]
    wrong = []
    for method, path, headers, body in missing:
        response = await api.client.request(method, path, headers=headers, json=body)
        answer = response.json()
        if response.status_code != 404 or set(answer) != ENTE_ERROR or answer["code"] != "NOT_FOUND":
            wrong.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
    not_allowed = await api.client.delete("/files/info", headers=header(token))
    if not_allowed.status_code != 405 or set(not_allowed.json()) != ENTE_ERROR:
        wrong.append(f"DELETE /files/info: {not_allowed.status_code} {not_allowed.text[:200]}")
    assert not wrong, "\n".join(wrong)


async def _link_token(api: RunningSystem, token: str) -> str:
    album = await new_album(api, token)
    created = await api.client.post("/collections/share-url", headers=header(token),
                                    json={"collectionID": album, "enableCollect": True})
    assert created.status_code == 200, created.text
    url: str = created.json()["result"]["url"]
    return url.split("t=", 1)[1]
