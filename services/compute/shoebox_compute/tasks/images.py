from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

THUMB_MAX_SIDE = 256
# Refuse decompression bombs outright instead of warning: a worker must not run out of memory.
Image.MAX_IMAGE_PIXELS = 100_000_000


class UnreadableMedia(Exception):
    """The bytes are not an image we can read; retrying will not help."""


@dataclass(frozen=True)
class Rendered:
    data: bytes
    content_type: str
    width: int
    height: int


def _open(data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise UnreadableMedia(f"cannot read image: {exc}") from exc
    return image


def make_thumbnail(data: bytes, max_side: int = THUMB_MAX_SIDE) -> Rendered:
    """A JPEG no larger than max_side on its long side, turned upright as its EXIF says."""
    image = ImageOps.exif_transpose(_open(data))
    if image.mode not in ("RGB", "L"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        rgba = image.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85, optimize=True)
    return Rendered(out.getvalue(), "image/jpeg", image.width, image.height)


def extract_metadata(data: bytes) -> dict[str, Any]:
    """Width and height as displayed (after EXIF orientation), format, and the capture time if known."""
    image = _open(data)
    width, height = image.size
    exif = image.getexif()
    orientation = exif.get(ExifTags.Base.Orientation, 1)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    result: dict[str, Any] = {
        "width": width, "height": height, "format": (image.format or "").lower() or None, "mode": image.mode,
    }
    taken = exif.get_ifd(ExifTags.IFD.Exif).get(ExifTags.Base.DateTimeOriginal) or exif.get(ExifTags.Base.DateTime)
    if isinstance(taken, str) and taken.strip():
        result["taken_at"] = taken.strip()
    camera = exif.get(ExifTags.Base.Model)
    if isinstance(camera, str) and camera.strip():
        result["camera_model"] = camera.strip()
    return result
