"""Files through the CL store's API, on both storage drivers: multipart uploads in `media_file` or the
legacy `image`, the fields read from the bytes, media exactly as sent (and by range), previews, duplicates
on both paths, file replacement by PUT, the audit, and bad input (a file where none belongs, none where
one must be, a 10 GiB Content-Length, a body that stops half way), each refused with nothing left behind."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from PIL import Image

from shoebox.testing import RunningSystem
from shoebox.testing.cl_client import (
    ClCallers,
    ClClient,
    ClEntity,
    cl_callers,
    detail_of,
    open_multipart_uploads,
    store_storage,
    stored_keys,
)
from shoebox.testing.flow import make_png
from shoebox.testing.replicas import settled

SPACE_PREFIX = "s/-1/"
TEN_GIB = 10 * 1024**3


UPLOAD_LIMIT = 32 * 1024 * 1024


@pytest.fixture(autouse=True)
def _store_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit may call an unreferenced object orphaned at once (the default waits two days), and the
    upload limit is small enough to pass in a test (every other upload here stays below it)."""
    monkeypatch.setenv("SHOEBOX_METADATA_STORE_ORPHAN_GRACE_SECONDS", "0")
    monkeypatch.setenv("SHOEBOX_METADATA_STORE_MAX_UPLOAD_BYTES", str(UPLOAD_LIMIT))


@pytest.fixture
async def cl(system: RunningSystem) -> ClCallers:
    return await cl_callers(system)


@pytest.fixture
def store(cl: ClCallers) -> ClClient:
    return cl.editor


def make_jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 90)).save(out, format="JPEG")
    return out.getvalue()


async def test_an_upload_is_stored_exactly_and_described(store: ClClient, system: RunningSystem) -> None:
    png = make_png(64, 48)
    response = await store.post_entities(is_collection=False, label="a png", description="pixels",
                                         file=("picture.png", png, "image/png"))
    assert response.status_code == 201, response.text
    entity = await store.read_entity(response.json()["id"])
    assert entity.model_dump() == response.json()
    assert (entity.is_collection, entity.label, entity.description) == (False, "a png", "pixels")
    assert (entity.file_size, entity.mime_type, entity.type, entity.extension) == (
        len(png), "image/png", "image", "png")
    assert (entity.width, entity.height) == (64, 48)
    assert entity.md5 == hashlib.md5(png).hexdigest()
    assert store.me is not None
    assert entity.added_by == entity.updated_by == str(store.me.id)
    assert entity.file_path is not None
    assert entity.file_path.startswith(f"{SPACE_PREFIX}o/")
    assert entity.file_path in await stored_keys(system, SPACE_PREFIX)

    media = await store.get_media(entity.id)
    assert media.status_code == 200, media.text
    assert media.content == png
    assert media.headers["content-type"].startswith("image/png")


async def test_media_by_range(store: ClClient) -> None:
    data = os.urandom(300_000)
    entity = await store.upload(data, filename="noise.bin")
    part = await store.get_media(entity.id, byte_range="bytes=1000-1999")
    assert part.status_code == 206, part.text
    assert part.content == data[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    tail = await store.get_media(entity.id, byte_range="bytes=-10")
    assert (tail.status_code, tail.content) == (206, data[-10:])
    assert await store.download(entity.id) == data
    beyond = await store.get_media(entity.id, byte_range=f"bytes={len(data) + 10}-")
    assert beyond.status_code == 416, beyond.text


async def test_random_bytes_named_jpg_and_the_legacy_image_field(store: ClClient) -> None:
    """What CL's client checks of any upload: a path, a size, and a mime type even for 1 KB of noise."""
    noise = os.urandom(1024)
    entity = await store.upload(noise, filename="noise.jpg", file_field="image")
    assert entity.file_path
    assert entity.file_size == 1024
    assert entity.mime_type
    assert entity.md5 == hashlib.md5(noise).hexdigest()
    assert await store.download(entity.id) == noise
    untyped = await store.upload(os.urandom(2048), filename="blob")
    assert untyped.mime_type


async def test_dimensions_and_media_filters(store: ClClient) -> None:
    jpeg = await store.upload(make_jpeg(120, 80), filename="wide.jpg", content_type="image/jpeg")
    png = await store.upload(make_png(30, 40), filename="tall.png", content_type="image/png")
    text = await store.upload(b"plain text, not a picture\n" * 40, filename="notes.txt", content_type="text/plain")
    assert (jpeg.width, jpeg.height, jpeg.type, jpeg.mime_type) == (120, 80, "image", "image/jpeg")
    assert (png.width, png.height) == (30, 40)
    assert text.type == "file"
    assert (text.width, text.height) == (None, None)

    def ids(entities: list[ClEntity]) -> set[int]:
        return {e.id for e in entities}

    assert ids((await store.list_entities(md5=jpeg.md5)).items) == {jpeg.id}
    assert ids((await store.list_entities(mime_type="image/png")).items) == {png.id}
    assert ids((await store.list_entities(type_="image")).items) == {jpeg.id, png.id}
    assert ids((await store.list_entities(width=120)).items) == {jpeg.id}
    assert ids((await store.list_entities(height=40)).items) == {png.id}
    assert jpeg.file_size is not None
    assert png.file_size is not None
    assert text.file_size is not None
    smallest = min(jpeg.file_size, png.file_size, text.file_size)
    largest = max(jpeg.file_size, png.file_size, text.file_size)
    assert ids((await store.list_entities(file_size_min=largest)).items) == {
        e.id for e in (jpeg, png, text) if e.file_size == largest}
    assert ids((await store.list_entities(file_size_max=smallest)).items) == {
        e.id for e in (jpeg, png, text) if e.file_size == smallest}
    assert ids((await store.list_entities(file_size_min=smallest, file_size_max=largest)).items) == {
        jpeg.id, png.id, text.id}
    assert (await store.lookup(md5=png.md5)).id == png.id
    assert (await store.get_lookup(md5="0" * 32)).status_code == 404


async def test_an_exif_date_becomes_create_date(store: ClClient) -> None:
    image = Image.new("RGB", (16, 16), (10, 20, 30))
    exif = Image.Exif()
    exif[0x8769] = {0x9003: "2021:07:04 12:30:00"}  # Exif IFD: DateTimeOriginal
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    entity = await store.upload(out.getvalue(), filename="dated.jpg", content_type="image/jpeg")
    assert entity.create_date is not None
    taken = datetime.fromtimestamp(entity.create_date / 1000, UTC)
    assert (taken.year, taken.month, taken.day) == (2021, 7, 4)


async def test_preview_once_compute_made_it(store: ClClient) -> None:
    entity = await store.upload(make_png(400, 300), filename="big.png", content_type="image/png")
    async with asyncio.timeout(60):
        while (preview := await store.get_preview(entity.id)).status_code == 404:
            assert detail_of(preview) == "Preview file not found"
            await asyncio.sleep(0.2)
    assert preview.status_code == 200, preview.text
    assert preview.headers["content-type"].split(";")[0] in ("image/jpeg", "image/png", "image/webp")
    shown = Image.open(io.BytesIO(preview.content))
    assert max(shown.size) <= 400
    album = await store.create_collection("no preview")
    assert (await store.get_preview(album.id)).status_code in (400, 404)
    # with nothing left to do for the store's files, the pipeline reports itself idle
    async with asyncio.timeout(60):
        while (await store.insight_status()).status != "idle":
            await asyncio.sleep(0.2)


async def test_m_insight_is_running_while_a_file_waits_for_compute(store: ClClient) -> None:
    """Compute owes every new image a thumbnail: right after an upload there is work, later there is none.
    Both states are polled for (bounded), not timed."""
    statuses: list[str] = []
    async with asyncio.timeout(60):
        while "running" not in statuses:  # a new image each time, so each one is new work
            await store.upload(make_png(100 + len(statuses), 100), filename="work.png", content_type="image/png")
            statuses.append((await store.insight_status()).status)
        while (await store.insight_status()).status != "idle":
            await asyncio.sleep(0.1)


async def test_a_collection_has_no_media(store: ClClient) -> None:
    album = await store.create_collection("album")
    response = await store.get_media(album.id)
    assert (response.status_code, detail_of(response)) == (400, "Entity is a collection")


async def test_duplicates_answer_the_existing_entity_or_409_on_the_alias(store: ClClient, cl: ClCallers,
                                                                         system: RunningSystem) -> None:
    data = os.urandom(50_000)
    first = await store.upload(data, filename="one.bin")
    keys = await stored_keys(system, SPACE_PREFIX)

    again = await store.post_entities(is_collection=False, label="another name",
                                      file=("two.bin", data, None))
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.id
    assert again.json()["label"] == first.label
    by_other_user = await cl.writer.post_entities(is_collection=False, file=("three.bin", data, None))
    assert (by_other_user.status_code, by_other_user.json()["id"]) == (200, first.id)

    alias = await store.alias().post_entities(is_collection=False, file=("four.bin", data, None))
    assert alias.status_code == 409, alias.text
    assert isinstance(detail_of(alias), str)

    # the duplicates left no object behind, and made no entity
    async with asyncio.timeout(30):
        while await stored_keys(system, SPACE_PREFIX) != keys:
            await asyncio.sleep(0.1)
    assert (await store.list_entities()).pagination.total_items == 1


async def test_concurrent_duplicates_make_one_entity(store: ClClient) -> None:
    data = os.urandom(20_000)
    answers = await asyncio.gather(*(store.post_entities(is_collection=False, file=(f"d{n}.bin", data, None))
                                     for n in range(8)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 7 + [201], [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert (await store.list_entities()).pagination.total_items == 1


async def test_a_soft_deleted_duplicate_does_not_block(store: ClClient) -> None:
    data = os.urandom(10_000)
    old = await store.upload(data, filename="old.bin")
    await store.soft_delete(old.id)
    new = await store.upload(data, filename="new.bin", codes=(201,))
    assert new.id > old.id
    assert await store.download(new.id) == data
    # restoring the old one would make two live copies of one content
    restored = await store.patch_entity(old.id, {"is_deleted": False})
    assert restored.status_code == 409, restored.text
    assert (await store.read_entity(old.id)).is_deleted is True
    # once the new one goes, the old one may come back
    await store.erase(new.id)
    assert (await store.restore(old.id)).is_deleted is False


async def test_put_replaces_the_file(store: ClClient, system: RunningSystem) -> None:
    first_bytes, second_bytes = os.urandom(30_000), os.urandom(40_000)
    entity = await store.upload(first_bytes, filename="v1.bin", label="doc")
    replaced = await store.update(entity.id, is_collection=False, label="doc v2",
                                  file=("v2.bin", second_bytes, "application/octet-stream"))
    assert (replaced.label, replaced.file_size, replaced.md5) == (
        "doc v2", len(second_bytes), hashlib.md5(second_bytes).hexdigest())
    assert replaced.file_path != entity.file_path
    assert await store.download(entity.id) == second_bytes
    fields_only = await store.update(entity.id, is_collection=False, label="doc v3")
    assert (fields_only.md5, fields_only.file_path) == (replaced.md5, replaced.file_path)
    assert await store.download(entity.id) == second_bytes
    assert len(await store.versions(entity.id)) >= 3

    other = await store.upload(first_bytes, filename="other.bin")  # the old content is free again
    clash = await store.put_entity(entity.id, is_collection=False, label="clash",
                                   file=("clash.bin", first_bytes, None))
    assert clash.status_code == 409, clash.text
    assert await store.download(entity.id) == second_bytes
    assert await store.download(other.id) == first_bytes
    # the replaced bytes' object is erased once nothing refers to it
    async with asyncio.timeout(60):
        while entity.file_path in await stored_keys(system, SPACE_PREFIX):
            await asyncio.sleep(0.1)


async def test_a_file_where_none_belongs_or_none_where_one_must_be(store: ClClient, system: RunningSystem) -> None:
    keys = await stored_keys(system, SPACE_PREFIX)
    with_file = await store.post_entities(is_collection=True, label="collection with a file",
                                          file=("x.bin", b"no place for me", None))
    assert with_file.status_code == 422, with_file.text
    assert isinstance(detail_of(with_file), str)
    without_file = await store.post_entities(is_collection=False, label="file without a file")
    assert without_file.status_code == 422, without_file.text
    assert isinstance(detail_of(without_file), str)
    empty = await store.post_entities(is_collection=False, file=("empty.bin", b"", None))
    assert 400 <= empty.status_code < 500, empty.text
    assert isinstance(detail_of(empty), str)
    assert (await store.list_entities()).pagination.total_items == 0
    async with asyncio.timeout(30):
        while await stored_keys(system, SPACE_PREFIX) != keys:
            await asyncio.sleep(0.1)
    assert await open_multipart_uploads(system) == []


async def raw_exchange(system: RunningSystem, head: bytes, body: bytes = b"", *, close_after: bool = False
                       ) -> bytes:
    """Speak HTTP/1.1 on a socket, to send what httpx would not: a length the body never reaches."""
    url = urlsplit(system.settings.public_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(head + body)
        await writer.drain()
        if close_after:
            writer.close()
            await writer.wait_closed()
            return b""
        async with asyncio.timeout(30):
            return await reader.read(65536)
    finally:
        if not writer.is_closing():
            writer.close()


def upload_head(system: RunningSystem, token: str, boundary: str, length: int) -> bytes:
    host = urlsplit(system.settings.public_url).netloc
    return (f"POST /entities HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}\r\n"
            f"Connection: close\r\n\r\n").encode()


def form_start(boundary: str) -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"is_collection\"\r\n\r\nfalse\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"media_file\"; filename=\"big.bin\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode()


async def test_a_ten_gib_content_length_is_refused_before_reading(store: ClClient, system: RunningSystem) -> None:
    keys = await stored_keys(system, SPACE_PREFIX)
    assert store.token is not None
    answer = await raw_exchange(system, upload_head(system, store.token, "b0undary", TEN_GIB))
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 413"), answer[:500]
    assert b'"detail"' in answer
    assert (await store.list_entities()).pagination.total_items == 0
    assert await stored_keys(system, SPACE_PREFIX) == keys
    # the same limit on PUT
    target = await store.upload(b"to be replaced", filename="t.bin")
    host = urlsplit(system.settings.public_url).netloc
    put = (f"PUT /entities/{target.id} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {store.token}\r\n"
           f"Content-Type: multipart/form-data; boundary=b0undary\r\nContent-Length: {TEN_GIB}\r\n"
           f"Connection: close\r\n\r\n").encode()
    assert (await raw_exchange(system, put)).split(b"\r\n", 1)[0].startswith(b"HTTP/1.1 413")
    assert await store.download(target.id) == b"to be replaced"


async def test_a_file_past_the_limit_without_a_content_length_is_refused(store: ClClient,
                                                                        system: RunningSystem) -> None:
    """Chunked, so the length is known only by counting: the limit holds all the same, and the bytes
    received so far are thrown away."""
    keys = await stored_keys(system, SPACE_PREFIX)
    boundary = "chunkedboundary"
    chunk = os.urandom(1024 * 1024)

    async def body() -> AsyncIterator[bytes]:
        yield form_start(boundary)
        for _ in range(UPLOAD_LIMIT // len(chunk) + 8):
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await store.http.post("/entities", content=body(), headers={
        **await store.headers(), "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 413, response.text
    assert isinstance(detail_of(response), str)
    async with asyncio.timeout(60):
        while await stored_keys(system, SPACE_PREFIX) != keys or await open_multipart_uploads(system):
            await asyncio.sleep(0.1)
    assert (await store.list_entities()).pagination.total_items == 0


async def test_a_body_that_stops_half_way_leaves_nothing(store: ClClient, system: RunningSystem) -> None:
    before = (await store.list_entities()).pagination.total_items
    keys = await stored_keys(system, SPACE_PREFIX)
    assert store.token is not None
    boundary = "halfwayboundary"
    start = form_start(boundary)
    file_size = 12 * 1024 * 1024  # past one S3 part, so a multipart upload was open when the body stopped
    end = f"\r\n--{boundary}--\r\n".encode()
    head = upload_head(system, store.token, boundary, len(start) + file_size + len(end))
    await raw_exchange(system, head, start + os.urandom(file_size // 2 + 3 * 1024 * 1024), close_after=True)

    # the server notices the end of the body when it reads it: poll, bounded, until nothing of it is left
    async with asyncio.timeout(60):
        while (await stored_keys(system, SPACE_PREFIX) != keys or await open_multipart_uploads(system)):
            await asyncio.sleep(0.1)
    assert (await store.list_entities()).pagination.total_items == before
    # and the store still takes a whole upload
    data = os.urandom(100_000)
    assert await store.download((await store.upload(data, filename="whole.bin")).id) == data


async def test_a_form_that_stops_half_way_is_a_400(store: ClClient, system: RunningSystem) -> None:
    """The body is all there by its Content-Length, but the form stops inside the file (no closing
    boundary): what a client that stopped half way and still waits for the answer sees."""
    keys = await stored_keys(system, SPACE_PREFIX)
    boundary = "cutboundary"
    body = form_start(boundary) + os.urandom(9 * 1024 * 1024)
    response = await store.http.post("/entities", content=body, headers={
        **await store.headers(), "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 400, response.text
    assert detail_of(response) == "The upload ended before the form was complete"
    async with asyncio.timeout(60):
        while await stored_keys(system, SPACE_PREFIX) != keys or await open_multipart_uploads(system):
            await asyncio.sleep(0.1)
    assert (await store.list_entities()).pagination.total_items == 0


async def test_audit_finds_orphans_and_missing_objects_and_clears_only_orphans(
        cl: ClCallers, system: RunningSystem) -> None:
    kept = await cl.editor.upload(os.urandom(5000), filename="kept.bin")
    lost = await cl.editor.upload(os.urandom(6000), filename="lost.bin")
    clean = await cl.admin.audit()
    assert (clean.orphaned_files, clean.orphaned_faces, clean.orphaned_vectors, clean.orphaned_mqtt) == (
        [], [], [], [])
    assert clean.model_extra is not None
    assert clean.model_extra.get("missing_files", []) == []

    primary = store_storage(system).primary
    orphan_key = f"{SPACE_PREFIX}o/{'ab' * 16}"
    await primary.put_bytes(orphan_key, b"nobody owns me")
    assert lost.file_path is not None
    await settled(system)  # the copies are made first: a copy landing after the loss would undo it
    for tier in store_storage(system).tiers.values():
        await tier.delete(lost.file_path)

    report = await cl.admin.audit()
    assert orphan_key in {f["file_path"] for f in report.orphaned_files}
    assert kept.file_path not in {f["file_path"] for f in report.orphaned_files}
    assert report.model_extra is not None
    missing = report.model_extra["missing_files"]
    assert lost.id in {m.get("entity_id", m.get("item_id")) for m in missing}, missing

    cleared = await cl.admin.clear_orphans()
    assert cleared.files_deleted >= 1
    assert (cleared.faces_deleted, cleared.vectors_deleted, cleared.mqtt_cleared) == (0, 0, 0)
    assert orphan_key not in await stored_keys(system, SPACE_PREFIX)
    assert await cl.editor.download(kept.id) == await primary.get_bytes(kept.file_path or "")
    assert kept.file_path in await stored_keys(system, SPACE_PREFIX)
    assert orphan_key not in {f["file_path"] for f in (await cl.admin.audit()).orphaned_files}
