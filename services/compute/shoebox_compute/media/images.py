"""Images through pyvips: sniffing, header checks, thumbnails, saving, perceptual hashes."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyvips

from .outputs import MediaError, Progress
from .source import RangeReader

MAX_PIXELS = 100_000_000
"""An image whose header claims more pixels than this is refused as a decompression bomb."""

MAX_SIDE = 65_535
"""Nor may one side exceed this (JPEG's own limit), whatever the pixel count."""

HEIF_DECODE_MAX_BYTES = 256 << 20
"""HEVC HEIC files (iPhone photos) are decoded by pillow-heif, which reads the file whole: up to this size."""

FAIL_ON = "truncated"
"""libvips' fail_on for every load: a truncated file is an error, a minor libjpeg warning is not."""

IMAGE_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1",
                b"avif", b"avis"}
VIDEO_BRANDS_HINT = {b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ", b"M4VP",
                     b"qt  ", b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"dash", b"MSNV", b"XAVC", b"mmp4"}


def sniff(reader: RangeReader) -> str:
    """"image", "video" or "unknown", from the first bytes (never from a name)."""
    reader.seek(0)
    head = reader.read(64)
    reader.seek(0)
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        brands = {head[i : i + 4] for i in range(16, min(len(head), 8 + int.from_bytes(head[:4], "big")), 4)}
        if brand in IMAGE_BRANDS or (brand not in VIDEO_BRANDS_HINT and brands & IMAGE_BRANDS):
            return "image"
        return "video"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video"
    if head[:4] == b"\x1a\x45\xdf\xa3" or head[:3] == b"FLV" or (head[:1] == b"\x47" and head[188:189] == b"\x47"):
        return "video"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3") or head[:4] == b"OggS":
        return "video"
    if (head[:3] == b"\xff\xd8\xff" or head[:8] == b"\x89PNG\r\n\x1a\n" or head[:6] in (b"GIF87a", b"GIF89a")
            or head[:4] in (b"II*\x00", b"MM\x00*")):
        return "image"
    return "unknown"


class _Watch:
    """Reports read progress from inside libvips' source callbacks and carries exceptions out of them.

    pyvips cannot propagate a Python exception through libvips, so a failing read or a Cancelled from
    the progress callback is kept here, the read answers end-of-file, and `check()` raises it afterwards.
    """

    def __init__(self, reader: RangeReader, progress: Progress | None, lo: int, hi: int) -> None:
        self.reader, self.progress, self.lo, self.hi = reader, progress, lo, hi
        self.error: BaseException | None = None
        self._last = -1
        # libvips calls back into these sources after the call that was given them returns: they must
        # outlive every image made from them, or the callbacks land on collected handles.
        self.sources: list[pyvips.SourceCustom] = []

    def source(self) -> pyvips.SourceCustom:
        self.reader.seek(0)
        src = pyvips.SourceCustom()
        src.on_read(self._read)
        src.on_seek(self._seek)
        self.sources.append(src)
        return src

    def _read(self, size: int) -> bytes:
        if self.error is not None:
            return b""
        try:
            data = self.reader.read(size)
            if self.progress is not None and self.reader.size:
                pct = self.lo + (self.hi - self.lo) * min(self.reader.tell(), self.reader.size) // self.reader.size
                if pct != self._last:
                    self._last = pct
                    self.progress(pct)
            return data
        except BaseException as exc:  # carried out of the C callback, raised by check()
            self.error = exc
            return b""

    def _seek(self, offset: int, whence: int) -> int:
        if self.error is not None:
            return -1
        try:
            return self.reader.seek(offset, whence)
        except BaseException as exc:
            self.error = exc
            return -1

    def check(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error


def _vips_error(exc: pyvips.Error, what: str) -> MediaError:
    detail = " ".join(str(exc.detail or exc.message).split())
    if "not a known" in detail or "not in a known format" in detail:
        return MediaError(f"{what}: not an image format we can read")
    if "truncated" in detail.lower() or "premature" in detail.lower() or "end of" in detail.lower():
        return MediaError(f"{what}: the file is truncated ({detail[:200]})")
    return MediaError(f"{what}: {detail[:300]}")


def _run(watch: _Watch, what: str, op: Callable[[], Any]) -> Any:
    try:
        result = op()
    except pyvips.Error as exc:
        watch.check()
        raise _vips_error(exc, what) from None
    watch.check()
    return result


@dataclass(frozen=True)
class Header:
    width: int  # as stored
    height: int
    loader: str  # libvips' loader, e.g. "jpegload_source"
    format: str  # "jpeg", "png", "webp", "heif", "avif", "gif", "tiff"
    orientation: int
    has_alpha: bool
    pages: int
    exif: bytes | None
    heif_compression: str | None

    @property
    def display_size(self) -> tuple[int, int]:
        return (self.height, self.width) if self.orientation in (5, 6, 7, 8) else (self.width, self.height)


def _format_of(loader: str, compression: str | None) -> str:
    name = loader.removesuffix("_source").removesuffix("load")
    if name == "heif":
        return "avif" if compression == "av1" else "heic"
    return {"jpeg": "jpeg", "png": "png", "webp": "webp", "gif": "gif", "tiff": "tiff"}.get(name, name)


def read_header(reader: RangeReader, *, what: str = "image") -> Header:
    """The header, without decoding pixels; refuses bombs (MAX_PIXELS, MAX_SIDE)."""
    watch = _Watch(reader, None, 0, 0)

    def load() -> pyvips.Image:
        return pyvips.Image.new_from_source(watch.source(), "", access="sequential", fail_on=FAIL_ON)

    image = _run(watch, what, load)
    fields = set(image.get_fields())
    loader = str(image.get("vips-loader"))
    compression = str(image.get("heif-compression")) if "heif-compression" in fields else None
    pages = int(image.get("n-pages")) if "n-pages" in fields else 1
    height = int(image.get("page-height")) if "page-height" in fields else image.height
    header = Header(
        width=image.width, height=height, loader=loader, format=_format_of(loader, compression),
        orientation=int(image.get("orientation")) if "orientation" in fields else 1,
        has_alpha=bool(image.hasalpha()), pages=pages,
        exif=bytes(image.get("exif-data")) if "exif-data" in fields else None,
        heif_compression=compression,
    )
    check_dimensions(header.width, header.height, what=what)
    return header


def check_dimensions(width: int, height: int, *, what: str = "image") -> None:
    if width <= 0 or height <= 0:
        raise MediaError(f"{what}: no pixels ({width}x{height})")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise MediaError(
            f"{what}: {width}x{height} is {width * height / 1e6:.0f} megapixels, over the limit of "
            f"{MAX_PIXELS / 1e6:.0f}: refused as a possible decompression bomb"
        )


def _heif_via_pillow(reader: RangeReader, header: Header) -> pyvips.Image:
    """Decode an HEVC HEIC with pillow-heif (pyvips-binary has no HEVC decoder), upright as displayed."""
    import pillow_heif

    if reader.size > HEIF_DECODE_MAX_BYTES:
        raise MediaError(f"heic: {reader.size} bytes is over the {HEIF_DECODE_MAX_BYTES} bytes we decode")
    reader.seek(0)
    try:
        heif = pillow_heif.open_heif(io.BytesIO(reader.read()), convert_hdr_to_8bit=True)
        mode, (width, height), data = heif.mode, heif.size, bytes(heif.data)
        stride = heif.stride
    except (ValueError, RuntimeError, OSError) as exc:
        raise MediaError(f"heic: cannot decode: {exc}") from None
    check_dimensions(width, height, what="heic")
    bands = {"RGB": 3, "RGBA": 4, "L": 1, "LA": 2}.get(mode)
    if bands is None:
        raise MediaError(f"heic: unsupported pixel mode {mode}")
    if stride != width * bands:
        data = b"".join(data[y * stride : y * stride + width * bands] for y in range(height))
    image = pyvips.Image.new_from_memory(data, width, height, bands, "uchar")
    return image.copy(interpretation="srgb" if bands >= 3 else "b-w")


UNBOUNDED = 10_000_000


def _fit(width: int | None, height: int | None, default: int) -> tuple[int, int]:
    """pyvips' thumbnail box for CL's width/height: one alone keeps the aspect ratio."""
    if width is None and height is None:
        return default, default
    return width or UNBOUNDED, height or UNBOUNDED


def thumbnail(
    reader: RangeReader, width: int | None, height: int | None, *, default: int = 256,
    progress: Progress | None = None, lo: int = 0, hi: int = 90, header: Header | None = None,
) -> pyvips.Image:
    """An upright thumbnail no larger than the box, shrunk on load (JPEG, WebP, HEIF), never enlarged."""
    header = header or read_header(reader)
    box_w, box_h = _fit(width, height, default)
    if header.format == "heic" and header.heif_compression == "hevc":
        image = _heif_via_pillow(reader, header)
        if progress is not None:
            progress(hi)
        return image.thumbnail_image(box_w, height=box_h, size="down", no_rotate=True)
    watch = _Watch(reader, progress, lo, hi)
    options = f"fail_on={FAIL_ON}"

    def load() -> pyvips.Image:
        image = pyvips.Image.thumbnail_source(
            watch.source(), box_w, height=box_h, size="down", option_string=options
        )
        # Materialise now, while the source is open and its errors can be caught here.
        return image.copy_memory()

    result: pyvips.Image = _run(watch, header.format, load)
    return result


def to_srgb8(image: pyvips.Image) -> pyvips.Image:
    """8-bit sRGB or grey, whatever came in (16-bit PNG, CMYK, float)."""
    interpretation = str(image.interpretation)
    if interpretation in ("rgb16", "grey16", "cmyk", "lab", "labs", "xyz", "scrgb", "hsv", "lch", "cmc", "yxy"):
        image = image.colourspace("b-w" if interpretation == "grey16" else "srgb")
    if str(image.format) != "uchar":
        image = image.cast("uchar")
    return image


def flatten(image: pyvips.Image) -> pyvips.Image:
    if image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))
    return image


SAVERS: dict[str, tuple[str, str, bool]] = {
    # format: (suffix, content type, keeps alpha)
    "jpeg": (".jpg", "image/jpeg", False),
    "png": (".png", "image/png", True),
    "webp": (".webp", "image/webp", True),
    "avif": (".avif", "image/avif", True),
    "tiff": (".tif", "image/tiff", True),
    "gif": (".gif", "image/gif", True),
}
FORMAT_ALIASES = {"jpg": "jpeg", "jpeg": "jpeg", "jpe": "jpeg", "png": "png", "webp": "webp", "avif": "avif",
                  "tif": "tiff", "tiff": "tiff", "gif": "gif"}


def normalise_format(name: object) -> str:
    key = str(name or "").strip().lower().lstrip(".")
    if key in ("heic", "heif"):
        raise MediaError("heic output is not supported here (no HEVC encoder); use avif, webp, jpg or png")
    fmt = FORMAT_ALIASES.get(key)
    if fmt is None:
        raise MediaError(f"unsupported output format {name!r}: one of {', '.join(sorted(FORMAT_ALIASES))}")
    return fmt


def save(image: pyvips.Image, fmt: str, quality: int | None = None) -> bytes:
    """Encode as fmt; alpha is kept where the format has it and flattened on white where not."""
    suffix, _, keeps_alpha = SAVERS[fmt]
    image = to_srgb8(image)
    if not keeps_alpha:
        image = flatten(image)
    options: dict[str, Any] = {"keep": "none"}
    if fmt in ("jpeg", "webp", "avif"):
        options["Q"] = quality or (85 if fmt != "avif" else 60)
    if fmt == "jpeg":
        options["optimize_coding"] = True
    if fmt == "png":
        options["compression"] = 6
    try:
        return bytes(image.write_to_buffer(suffix, **options))
    except pyvips.Error as exc:
        raise MediaError(f"cannot encode {fmt}: {' '.join(str(exc.detail).split())[:300]}") from None


def from_rgb(data: bytes, width: int, height: int) -> pyvips.Image:
    return pyvips.Image.new_from_memory(data, width, height, 3, "uchar").copy(interpretation="srgb")


def _grey(image: pyvips.Image, width: int, height: int) -> list[list[float]]:
    small = flatten(to_srgb8(image))
    small = small.resize(width / small.width, vscale=height / small.height, kernel="linear")
    if small.bands >= 3:
        small = small.colourspace("b-w")
    small = small.extract_band(0).cast("uchar")
    if small.width != width or small.height != height:
        small = small.embed(0, 0, width, height, extend="copy")
    raw = bytes(small.write_to_memory())
    return [[float(raw[y * width + x]) for x in range(width)] for y in range(height)]


def dhash(image: pyvips.Image) -> str:
    """64-bit difference hash: is each pixel of a 9x8 grey brighter than its right neighbour."""
    rows = _grey(image, 9, 8)
    bits = 0
    for row in rows:
        for x in range(8):
            bits = (bits << 1) | (1 if row[x] > row[x + 1] else 0)
    return f"{bits:016x}"


def _dct(values: list[float]) -> list[float]:
    n = len(values)
    return [sum(v * math.cos(math.pi * (2 * i + 1) * k / (2 * n)) for i, v in enumerate(values)) for k in range(n)]


def phash(image: pyvips.Image) -> str:
    """64-bit perceptual hash: the 8x8 lowest frequencies of a 32x32 grey's DCT against their median."""
    rows = [_dct(row) for row in _grey(image, 32, 32)]
    columns = [_dct([rows[y][x] for y in range(32)]) for x in range(8)]
    low = [columns[x][y] for y in range(8) for x in range(8)]
    median = sorted(low[1:])[len(low[1:]) // 2]
    bits = 0
    for value in low:
        bits = (bits << 1) | (1 if value > median else 0)
    return f"{bits:016x}"


