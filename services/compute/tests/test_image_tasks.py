"""The built-in image tasks, on images made here."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from shoebox_compute.tasks.images import UnreadableMedia, extract_metadata, make_thumbnail


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def test_thumbnail_keeps_the_aspect_ratio_and_is_a_jpeg() -> None:
    rendered = make_thumbnail(encode(Image.new("RGB", (1000, 500), "red"), "PNG"))
    assert (rendered.width, rendered.height) == (256, 128)
    image = Image.open(io.BytesIO(rendered.data))
    assert image.format == "JPEG"
    assert image.size == (256, 128)


def test_a_small_image_is_not_enlarged() -> None:
    rendered = make_thumbnail(encode(Image.new("RGB", (40, 30)), "PNG"))
    assert (rendered.width, rendered.height) == (40, 30)


def test_transparency_is_flattened_onto_white() -> None:
    rendered = make_thumbnail(encode(Image.new("RGBA", (10, 10), (0, 0, 0, 0)), "PNG"))
    pixel = Image.open(io.BytesIO(rendered.data)).convert("RGB").getpixel((5, 5))
    assert isinstance(pixel, tuple)
    assert min(pixel) > 240


def rotated_jpeg() -> bytes:
    """A 300x100 JPEG whose EXIF says: turn me 90 degrees to display."""
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW
    exif[0x0110] = "Shoebox Test Camera"  # Model
    exif.get_ifd(0x8769)[0x9003] = "2024:05:06 07:08:09"  # DateTimeOriginal
    return encode(Image.new("RGB", (300, 100), "blue"), "JPEG", exif=exif)


def test_metadata_reports_displayed_size_format_and_capture_time() -> None:
    meta = extract_metadata(rotated_jpeg())
    assert (meta["width"], meta["height"]) == (100, 300)
    assert meta["format"] == "jpeg"
    assert meta["taken_at"] == "2024:05:06 07:08:09"
    assert meta["camera_model"] == "Shoebox Test Camera"


def test_thumbnail_is_turned_upright() -> None:
    rendered = make_thumbnail(rotated_jpeg())
    assert (rendered.width, rendered.height) == (85, 256)


@pytest.mark.parametrize("data", [b"", b"not an image at all", encode(Image.new("RGB", (8, 8)), "PNG")[:40]])
def test_unreadable_bytes_are_a_permanent_failure(data: bytes) -> None:
    with pytest.raises(UnreadableMedia):
        make_thumbnail(data)
    with pytest.raises(UnreadableMedia):
        extract_metadata(data)
