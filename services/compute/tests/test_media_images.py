"""The media tasks on images made here: JPEG with EXIF, PNG with alpha, HEIC, bombs, truncated, lies."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from shoebox_compute.media import samples, tasks
from shoebox_compute.media.images import MAX_PIXELS
from shoebox_compute.media.outputs import Cancelled, MediaError, MemorySink
from shoebox_compute.media.samples import Recorder
from shoebox_compute.media.source import RangeReader, bytes_reader

JPEG = samples.exif_jpeg()
PNG = samples.alpha_png()


def run(
    task: Any, data: bytes, params: dict[str, Any] | None = None, **kwargs: Any
) -> tuple[dict[str, Any], MemorySink]:
    sink = MemorySink()
    progress = kwargs.pop("progress", Recorder())
    result = task(bytes_reader(data), len(data), params or {}, sink, progress, **kwargs)
    return result, sink


def image_of(sink: MemorySink, path: str) -> Image.Image:
    image = Image.open(io.BytesIO(sink.files[path]))
    image.load()
    return image


def test_thumbnail_of_an_exif_jpeg_is_turned_upright() -> None:
    progress = Recorder()
    result, sink = run(tasks.media_thumbnail, JPEG, {"width": "128", "height": "128"}, progress=progress)
    assert result["thumbnail_path"] == "output/thumbnail.jpg"
    assert (result["width"], result["height"]) == (85, 128)  # 600x400 stored, 400x600 displayed
    assert (result["source_width"], result["source_height"]) == (400, 600)
    image = image_of(sink, "output/thumbnail.jpg")
    assert image.format == "JPEG"
    assert image.size == (85, 128)
    top, bottom = image.getpixel((42, 5)), image.getpixel((42, 122))
    assert isinstance(top, tuple)
    assert isinstance(bottom, tuple)
    assert top[0] > 150 > top[2]  # the stored left (red) is the displayed top
    assert bottom[2] > 150 > bottom[0]
    assert progress.seen[0] == 0
    assert progress.seen[-1] == 100


def test_thumbnail_default_box_and_one_side_alone() -> None:
    result, _ = run(tasks.media_thumbnail, JPEG)
    assert max(result["width"], result["height"]) == 256
    result, _ = run(tasks.media_thumbnail, JPEG, {"height": 300})
    assert (result["width"], result["height"]) == (200, 300)
    result, _ = run(tasks.media_thumbnail, JPEG, {"width": 100})
    assert result["width"] == 100


def test_png_with_alpha_keeps_it_as_png_and_flattens_it_as_jpeg() -> None:
    result, sink = run(tasks.media_thumbnail, PNG, {"width": 150})
    assert result["content_type"] == "image/png"
    image = image_of(sink, result["path"]).convert("RGBA")
    assert image.size == (150, 100)
    assert image.getpixel((10, 50))[3] == 0  # type: ignore[index]
    assert image.getpixel((140, 50))[3] == 255  # type: ignore[index]
    variant, sink = run(tasks.thumbnail_variant, PNG, name="thumb", max_side=256)
    assert variant == {"variant": "thumb", "path": "output/thumb.jpg", "content_type": "image/jpeg",
                       "width": 256, "height": 171, "size": len(sink.files["output/thumb.jpg"])}
    flat = image_of(sink, "output/thumb.jpg").convert("RGB")
    assert min(flat.getpixel((10, 80))) > 240  # type: ignore[arg-type]  # transparent became white


def test_variants_never_enlarge() -> None:
    result, _ = run(tasks.thumbnail_variant, JPEG, name="medium", max_side=1280)
    assert (result["width"], result["height"]) == (400, 600)
    assert result["path"] == "output/medium.jpg"


def test_heic_is_read_thumbnailed_converted_and_described() -> None:
    data = samples.heic()
    result, sink = run(tasks.media_thumbnail, data, {"width": 160})
    assert (result["width"], result["height"]) == (160, 120)
    pixel = image_of(sink, result["path"]).convert("RGB").getpixel((80, 60))
    assert isinstance(pixel, tuple)
    assert pixel[1] > 140 > pixel[0]
    meta, _ = run(tasks.media_metadata, data)
    assert (meta["format"], meta["width"], meta["height"], meta["mime_type"]) == ("heic", 320, 240, "image/heic")
    converted, sink = run(tasks.image_conversion, data, {"format": "jpg"})
    assert image_of(sink, converted["output_path"]).size == (320, 240)


def test_image_conversion_reports_what_cl_reads() -> None:
    for fmt, pil_format in [("png", "PNG"), ("webp", "WEBP"), ("jpg", "JPEG")]:
        result, sink = run(tasks.image_conversion, JPEG, {"format": fmt, "quality": "80"})
        assert result["format"] == fmt
        assert result["output_path"].startswith("output/converted.")
        image = image_of(sink, result["output_path"])
        assert image.format == pil_format
        assert image.size == (400, 600)  # turned upright
        assert result["size"] == len(sink.files[result["output_path"]])
    result, sink = run(tasks.image_conversion, PNG, {"format": "webp"})
    assert image_of(sink, result["output_path"]).mode == "RGBA"
    with pytest.raises(MediaError, match="format"):
        run(tasks.image_conversion, JPEG, {"format": "bmpx"})
    with pytest.raises(MediaError, match="required"):
        run(tasks.image_conversion, JPEG, {})
    with pytest.raises(MediaError, match="quality"):
        run(tasks.image_conversion, JPEG, {"format": "jpg", "quality": "300"})


def test_exif_gives_every_tag_gps_and_the_capture_time() -> None:
    result, _ = run(tasks.exif, JPEG)
    assert result["Make"] == "Canon"
    assert result["Model"] == "Canon EOS 5D"
    assert result["Orientation"] == 6
    assert result["DateTime"] == "2021:06:16 09:00:00"
    assert result["DateTimeOriginal"] == "2021:06:15 14:30:00"
    assert result["GPS"]["GPSLatitudeRef"] == "N"
    assert result["gps"] == {"latitude": pytest.approx(48.8582, abs=1e-4), "longitude": pytest.approx(2.2945, abs=1e-4)}
    assert result["taken_at"] == 1623760200000  # 14:30 at +02:00 is 12:30 UTC
    assert result["taken_at_raw"] == "2021:06:15 14:30:00"
    assert result["taken_at_offset"] == "+02:00"
    import json

    json.dumps(result)
    empty, _ = run(tasks.exif, PNG)
    assert empty["taken_at"] is None
    assert empty["gps"] is None


def test_metadata_is_as_displayed_without_decoding_pixels() -> None:
    data = samples.noisy_jpeg(2000, 1500)
    reader = bytes_reader(data, block=16384, max_blocks=4)
    result = tasks.media_metadata(reader, len(data), {}, MemorySink(), Recorder())
    assert (result["width"], result["height"], result["format"], result["kind"]) == (2000, 1500, "jpeg", "image")
    assert reader.bytes_fetched < len(data) // 4
    meta, _ = run(tasks.media_metadata, JPEG)
    assert (meta["width"], meta["height"]) == (400, 600)
    assert meta["taken_at"] == 1623760200000
    assert meta["camera"] == {"make": "Canon", "model": "Canon EOS 5D"}
    assert meta["gps"]["latitude"] == pytest.approx(48.8582, abs=1e-4)


def test_hash_is_streamed_and_perceptual_hashes_find_near_duplicates() -> None:
    import hashlib

    result, _ = run(tasks.hash_task, JPEG)
    assert result["sha256"] == hashlib.sha256(JPEG).hexdigest()
    assert result["md5"] == hashlib.md5(JPEG).hexdigest()
    assert len(result["phash"]) == 16
    assert len(result["dhash"]) == 16
    # The same picture re-encoded smaller is near (a few bits); a different picture is far.
    image = Image.open(io.BytesIO(samples.noisy_jpeg(640, 480)))
    smaller = io.BytesIO()
    image.resize((320, 240)).save(smaller, "JPEG", quality=60)
    original = io.BytesIO()
    image.save(original, "PNG")
    a, _ = run(tasks.hash_task, original.getvalue())
    b, _ = run(tasks.hash_task, smaller.getvalue())
    c, _ = run(tasks.hash_task, JPEG)

    def distance(x: str, y: str) -> int:
        return bin(int(x, 16) ^ int(y, 16)).count("1")

    assert distance(a["phash"], b["phash"]) <= 10
    assert distance(a["phash"], c["phash"]) > distance(a["phash"], b["phash"])
    junk = b"not an image at all" * 100
    result, _ = run(tasks.hash_task, junk)
    assert result["sha256"] == hashlib.sha256(junk).hexdigest()
    assert result["phash"] is None
    assert result["perceptual_error"]


def test_a_big_jpeg_is_shrunk_on_load_and_never_held_whole() -> None:
    data = samples.noisy_jpeg(4000, 3000)
    assert len(data) > 4 << 20
    reader = bytes_reader(data, block=64 << 10, max_blocks=4)
    result = tasks.thumbnail_variant(reader, len(data), {}, MemorySink(), Recorder(), name="thumb", max_side=256)
    assert (result["width"], result["height"]) == (256, 192)
    assert reader.max_held <= 256 << 10
    assert reader.bytes_fetched < 2 * len(data)  # read about once, by ranged blocks


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = samples.png_bomb()
    for task, params in [(tasks.media_thumbnail, {}), (tasks.image_conversion, {"format": "jpg"}),
                         (tasks.media_metadata, {}), (tasks.exif, {})]:
        with pytest.raises(MediaError, match="decompression bomb"):
            run(task, bomb, params)
    result, _ = run(tasks.hash_task, bomb)
    assert "decompression bomb" in result["perceptual_error"]
    assert MAX_PIXELS == 100_000_000


def test_a_truncated_jpeg_fails_clearly() -> None:
    truncated = samples.noisy_jpeg(800, 600)
    truncated = truncated[: len(truncated) // 2]
    for task, params in [(tasks.media_thumbnail, {}), (tasks.image_conversion, {"format": "png"})]:
        with pytest.raises(MediaError, match="truncated"):
            run(task, truncated, params)


def test_corrupt_content_and_lying_extensions_are_judged_by_content() -> None:
    corrupt = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 20  # a JPEG's first bytes, then garbage
    text = b"this file is called photo.jpg but it is text\n" * 50
    for data in (corrupt, text):
        for task, params in [(tasks.media_thumbnail, {}), (tasks.image_conversion, {"format": "png"}),
                             (tasks.exif, {}), (tasks.media_metadata, {})]:
            with pytest.raises(MediaError):
                run(task, data, params)
    # A PNG named .jpg is a PNG: the name is never consulted.
    meta, _ = run(tasks.media_metadata, PNG)
    assert meta["format"] == "png"
    with pytest.raises(MediaError, match="empty"):
        run(tasks.media_thumbnail, b"")


def test_a_source_that_ends_early_fails_instead_of_hanging() -> None:
    def short(offset: int, length: int) -> bytes:
        return JPEG[offset : offset + length][: max(0, len(JPEG) // 2 - offset)]

    reader = RangeReader(short, len(JPEG), block=1024, max_blocks=2)
    with pytest.raises(MediaError):
        tasks.media_thumbnail(reader, len(JPEG), {}, MemorySink(), Recorder())


def test_cancelled_progress_stops_image_tasks() -> None:
    data = samples.noisy_jpeg(2000, 1500)
    for task, params in [(tasks.media_thumbnail, {}), (tasks.image_conversion, {"format": "png"}),
                         (tasks.hash_task, {})]:
        sink = MemorySink()
        progress = Recorder(cancel_after=10)
        reader = bytes_reader(data, block=16384, max_blocks=4)
        with pytest.raises(Cancelled):
            task(reader, len(data), params, sink, progress)
        assert sink.files == {}
        assert max(progress.seen) < 100
        assert reader.bytes_fetched < len(data)
