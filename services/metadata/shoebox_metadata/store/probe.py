"""What a file's header says about it: its type, size in pixels, length in time and when it was taken.

Only the first MiB (`head`) is at hand; a video's index (`moov`) is often at the end of the file, so
ISO-BMFF files are walked box by box with ranged reads of the stored object. Everything is bounded (boxes
visited, bytes read, reads made) and nothing here raises for a file it cannot read: a file it does not
understand just gets fewer fields. Images are opened with Pillow on the head only (the header, never a
decode), in a worker thread.
"""

from __future__ import annotations

import asyncio
import functools
import io
import mimetypes
import re
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import PureWindowsPath

from PIL import Image

from shoebox_metadata.store.kinds import MediaType

OCTET_STREAM = "application/octet-stream"

ReadRange = Callable[[int, int], Awaitable[bytes]]


@dataclass(frozen=True)
class Probed:
    mime_type: str  # never empty
    media_type: MediaType
    extension: str | None  # without the dot, lower case
    width: int | None
    height: int | None
    duration: float | None  # seconds
    taken_at: int | None  # ms since the epoch


async def probe(head: bytes, *, size: int, filename: str | None, declared_type: str | None,
                read_range: ReadRange) -> Probed:
    """Probe a stored file from its first bytes; `read_range(offset, length)` reads more of it if needed."""
    image = await asyncio.to_thread(_image_facts, head) if head else None
    width = height = taken_at = None
    duration: float | None = None
    sniffed: str | None
    if image is not None:
        sniffed, width, height, taken_at = image.mime_type, image.width, image.height, image.taken_at
    else:
        sniffed = _sniff(head)
        if _is_iso_bmff(head) and not (sniffed or "").startswith("image/"):  # HEIF has no moov
            movie = await _movie_facts(_Source(head, size, read_range))
            width, height, duration = movie.width, movie.height, movie.duration
            if movie.audio_only and sniffed is not None and sniffed.startswith("video/"):
                sniffed = "audio/mp4"  # an .m4a is an mp4 with nothing to see: its brand may still say mp4
    mime_type = sniffed or _by_extension(filename) or _declared(declared_type) or OCTET_STREAM
    return Probed(mime_type=mime_type, media_type=media_type_of(mime_type),
                  extension=_extension(filename) or _extension_of(mime_type),
                  width=width, height=height, duration=duration, taken_at=taken_at)


def media_type_of(mime_type: str) -> MediaType:
    major = mime_type.partition("/")[0]
    if major == "image":
        return MediaType.IMAGE
    if major == "video":
        return MediaType.VIDEO
    if major == "audio":
        return MediaType.AUDIO
    return MediaType.FILE


# --- Names: the filename's extension and the declared type -----------------------------------------------

# The standard library's table without the host's /etc/mime.types (so every machine answers alike), plus
# the media types cameras and phones write that it lacks.
_TYPES = mimetypes.MimeTypes()
for _mime, _ext in [
    ("image/webp", ".webp"), ("image/heic", ".heic"), ("image/heif", ".heif"), ("image/avif", ".avif"),
    ("image/x-adobe-dng", ".dng"), ("image/x-canon-cr2", ".cr2"), ("image/x-nikon-nef", ".nef"),
    ("image/x-sony-arw", ".arw"), ("video/x-matroska", ".mkv"), ("video/webm", ".webm"),
    ("video/3gpp", ".3gp"), ("video/3gpp2", ".3g2"), ("video/x-m4v", ".m4v"), ("audio/mp4", ".m4a"),
    ("audio/flac", ".flac"), ("audio/ogg", ".ogg"), ("audio/opus", ".opus"), ("audio/aac", ".aac"),
    ("audio/wav", ".wav"),
]:
    _TYPES.add_type(_mime, _ext)
# What an extension is called when only the type is known: the usual one, not the table's first.
_PREFERRED_EXTENSION = {
    "image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp", "image/tiff": "tif",
    "image/bmp": "bmp", "image/heic": "heic", "image/heif": "heif", "image/avif": "avif",
    "video/mp4": "mp4", "video/quicktime": "mov", "video/x-m4v": "m4v", "video/3gpp": "3gp",
    "video/3gpp2": "3g2", "video/webm": "webm", "video/x-matroska": "mkv", "video/x-msvideo": "avi",
    "audio/mpeg": "mp3", "audio/mp4": "m4a", "audio/flac": "flac", "audio/ogg": "ogg", "audio/wav": "wav",
    "audio/aiff": "aiff", "application/pdf": "pdf", "application/zip": "zip", "application/gzip": "gz",
}
_EXTENSION = re.compile(r"[a-z0-9]{1,16}")
_MIME = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


def _extension(filename: str | None) -> str | None:
    if not filename:
        return None
    # PureWindowsPath splits on both separators, so a client's full path leaves only its last name.
    suffix = PureWindowsPath(filename.strip()).suffix.lower().lstrip(".")
    return suffix if _EXTENSION.fullmatch(suffix) else None


def _by_extension(filename: str | None) -> str | None:
    extension = _extension(filename)
    if extension is None:
        return None
    found, _ = _TYPES.guess_type(f"f.{extension}", strict=False)
    return found


def _declared(declared_type: str | None) -> str | None:
    if not declared_type:
        return None
    mime = declared_type.partition(";")[0].strip().lower()
    if not _MIME.fullmatch(mime) or mime == OCTET_STREAM:
        return None
    return mime


def _extension_of(mime_type: str) -> str | None:
    if mime_type in _PREFERRED_EXTENSION:
        return _PREFERRED_EXTENSION[mime_type]
    if mime_type == OCTET_STREAM:
        return None
    found = _TYPES.guess_extension(mime_type, strict=False)
    return found.lstrip(".") if found else None


# --- Signatures -------------------------------------------------------------------------------------------

_SIGNATURES: list[tuple[int, bytes, str]] = [
    (0, b"%PDF-", "application/pdf"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"OggS", "audio/ogg"),
    (0, b"\x1a\x45\xdf\xa3", "video/x-matroska"),  # EBML: refined to webm by its DocType below
]
_RIFF = {b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo", b"WEBP": "image/webp"}
_AIFF = {b"AIFF", b"AIFC"}
# An ftyp's major brand (then its compatible brands) names the flavour of ISO-BMFF.
_BRANDS = {
    b"qt  ": "video/quicktime", b"M4V ": "video/x-m4v", b"M4VH": "video/x-m4v", b"M4VP": "video/x-m4v",
    b"M4A ": "audio/mp4", b"M4B ": "audio/mp4", b"M4P ": "audio/mp4", b"F4A ": "audio/mp4",
    b"heic": "image/heic", b"heix": "image/heic", b"heim": "image/heic", b"heis": "image/heic",
    b"hevc": "image/heic", b"mif1": "image/heif", b"msf1": "image/heif", b"avif": "image/avif",
    b"avis": "image/avif",
}
_MPEG_AUDIO_SYNC = {b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"\xff\xfa"}


def _sniff(head: bytes) -> str | None:
    for offset, magic, mime in _SIGNATURES:
        if head[offset:offset + len(magic)] == magic:
            if mime == "video/x-matroska" and b"webm" in head[:64]:
                return "video/webm"
            return mime
    if head[:4] == b"RIFF" and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    if head[:4] == b"FORM" and head[8:12] in _AIFF:
        return "audio/aiff"
    if _is_iso_bmff(head):
        return _brand_type(head)
    if head[:2] in _MPEG_AUDIO_SYNC:
        return "audio/mpeg"
    return None


# Old QuickTime files have no ftyp: they open straight on one of these.
_QUICKTIME_FIRST = {b"moov", b"mdat", b"wide"}


def _is_iso_bmff(head: bytes) -> bool:
    return (len(head) >= 12 and head[4:8] in _QUICKTIME_FIRST | {b"ftyp"}
            and struct.unpack(">I", head[:4])[0] >= 8)


def _brand_type(head: bytes) -> str:
    if head[4:8] != b"ftyp":
        return "video/quicktime"
    size = min(struct.unpack(">I", head[:4])[0], len(head), 256)
    brands = [head[8:12]] + [head[i:i + 4] for i in range(16, size - 3, 4)]
    for brand in brands:
        if brand in _BRANDS:
            return _BRANDS[brand]
        if brand.startswith(b"3gp"):
            return "video/3gpp"
        if brand.startswith(b"3g2"):
            return "video/3gpp2"
    return "video/mp4"


MAX_DIMENSION = 2**31 - 1  # what the items table holds


def _dimension(value: int) -> int | None:
    return value if 0 < value <= MAX_DIMENSION else None


# --- Images -----------------------------------------------------------------------------------------------

# Only formats with a real signature: Pillow also knows formats with none (TGA, for one), which would
# "recognise" random bytes.
_IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP", "AVIF")
_IMAGE_MIME = {"MPO": "image/jpeg"}  # a multi-picture JPEG (phones' portrait shots) is a JPEG to everyone

_EXIF_IFD = 0x8769
_DATETIME = 306
_DATETIME_ORIGINAL = 36867
_OFFSET_TIME_ORIGINAL = 36881
_SUBSEC_TIME_ORIGINAL = 37521
_EXIF_TIME = re.compile(r"(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_EXIF_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")


@functools.cache
def _image_formats() -> list[str]:
    Image.init()  # loads every plugin, so the list below is what this build of Pillow can open
    return [f for f in _IMAGE_FORMATS if f in Image.OPEN]


@dataclass(frozen=True)
class _Image:
    mime_type: str
    width: int | None
    height: int | None
    taken_at: int | None


def _image_facts(head: bytes) -> _Image | None:
    """What Pillow reads from an image's header (it decodes nothing until asked, and it is not asked)."""
    try:
        with Image.open(io.BytesIO(head), formats=_image_formats()) as image:
            fmt = image.format or ""
            mime = _IMAGE_MIME.get(fmt) or Image.MIME.get(fmt)
            if mime is None:
                return None
            width, height = image.size
            return _Image(mime, _dimension(width), _dimension(height), _taken_at(image, fmt))
    except Exception:
        # Pillow raises many kinds of errors for bytes that are not (whole) images; none of them is ours.
        return None


def _taken_at(image: Image.Image, fmt: str) -> int | None:
    # A PNG's EXIF may follow its pixels: Pillow would decode the whole image to reach it, so only an
    # eXIf chunk before the pixels counts.
    if fmt == "PNG" and "exif" not in image.info:
        return None
    try:
        exif = image.getexif()
        sub = exif.get_ifd(_EXIF_IFD)
        original = sub.get(_DATETIME_ORIGINAL)
        if original is not None:
            return _exif_ms(original, sub.get(_SUBSEC_TIME_ORIGINAL), sub.get(_OFFSET_TIME_ORIGINAL))
        return _exif_ms(exif.get(_DATETIME), None, None)
    except Exception:
        return None


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return value.strip("\x00 ") if isinstance(value, str) else None


def _exif_ms(value: object, subsec: object, offset: object) -> int | None:
    """EXIF's `YYYY:MM:DD HH:MM:SS` in ms since the epoch. It carries no zone unless the camera wrote an
    offset beside it; without one it is read as UTC."""
    text = _text(value)
    match = _EXIF_TIME.fullmatch(text or "")
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None  # 0000:00:00 00:00:00 and other cameras' placeholders
    zone = _EXIF_OFFSET.fullmatch(_text(offset) or "")
    if zone is not None:
        sign = -1 if zone[1] == "-" else 1
        shift = timedelta(hours=int(zone[2]), minutes=int(zone[3]))
        if shift < timedelta(hours=15):
            moment = moment.replace(tzinfo=timezone(sign * shift))
    fraction = _text(subsec) or ""
    millis = int(fraction[:3].ljust(3, "0")) if fraction.isdigit() else 0
    return int(moment.timestamp()) * 1000 + millis


# --- ISO-BMFF (mp4, mov, m4v, 3gp) ------------------------------------------------------------------------

MAX_BOXES = 4096  # boxes looked at in one file, all levels together
MAX_READS = 64  # ranged reads of the stored object for one file
MAX_DEPTH = 4  # moov > trak > mdia > hdlr is as deep as the facts are
MOOV_WINDOW = 16 * 1024 * 1024  # a moov up to this size is read whole, in one ranged read
MAX_BODY = 256  # mvhd, tkhd and hdlr are ~100 bytes; nothing here needs more of a box's body
_HEADER = 16  # a box header with a 64-bit size


class _Exhausted(Exception):
    """The walk's budget is spent: stop with what was found."""


class _Source:
    """The stored file's bytes at any offset: from the head, from one fetched window, or a ranged read."""

    def __init__(self, head: bytes, size: int, read_range: ReadRange) -> None:
        self.head = head
        self.size = max(size, len(head))
        self._read_range = read_range
        self._window_start = 0
        self._window = b""
        self.reads = 0
        self.boxes = 0

    async def read(self, offset: int, length: int) -> bytes:
        end = min(offset + length, self.size)
        if offset < 0 or offset >= end:
            return b""
        if end <= len(self.head):
            return self.head[offset:end]
        w_end = self._window_start + len(self._window)
        if self._window_start <= offset and end <= w_end:
            return self._window[offset - self._window_start:end - self._window_start]
        return await self._fetch(offset, end - offset)

    async def keep(self, offset: int, length: int) -> None:
        """Fetch a region once to serve the reads inside it (a moov outside the head)."""
        if offset + length > len(self.head) and length <= MOOV_WINDOW:
            self._window_start, self._window = offset, await self._fetch(offset, length)

    async def _fetch(self, offset: int, length: int) -> bytes:
        self.reads += 1
        if self.reads > MAX_READS:
            raise _Exhausted
        try:
            data = await self._read_range(offset, length)
        except Exception:
            raise _Exhausted from None  # storage could not say more: stop with what is known
        return data[:length]

    def count_box(self) -> None:
        self.boxes += 1
        if self.boxes > MAX_BOXES:
            raise _Exhausted


@dataclass(frozen=True)
class _Box:
    kind: bytes
    start: int  # where the box's header starts
    body: int  # where its body starts
    end: int  # one past its last byte


async def _boxes(source: _Source, start: int, end: int) -> AsyncIterator[_Box]:
    """The boxes laid one after another in [start, end); stops at the first that does not fit."""
    offset = start
    while offset + 8 <= end:
        source.count_box()
        header = await source.read(offset, _HEADER)
        if len(header) < 8:
            return
        size, kind = struct.unpack(">I4s", header[:8])
        body = offset + 8
        if size == 1:  # a 64-bit size follows the type
            if len(header) < 16:
                return
            size = struct.unpack(">Q", header[8:16])[0]
            body = offset + 16
        elif size == 0:  # the last box: it runs to the end of its container
            size = end - offset
        if size < body - offset or offset + size > end:
            return
        yield _Box(kind, offset, body, offset + size)
        offset += size


async def _child(source: _Source, parent: _Box, kind: bytes) -> _Box | None:
    async for box in _boxes(source, parent.body, parent.end):
        if box.kind == kind:
            return box
    return None


async def _body(source: _Source, box: _Box) -> bytes:
    return await source.read(box.body, min(box.end - box.body, MAX_BODY))


@dataclass(frozen=True)
class _Movie:
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    audio_only: bool = False


async def _movie_facts(source: _Source) -> _Movie:
    try:
        moov = None
        async for box in _boxes(source, 0, source.size):
            if box.kind == b"moov":
                moov = box
                break
        if moov is None:
            return _Movie()
        await source.keep(moov.start, moov.end - moov.start)
        return await _read_moov(source, moov)
    except _Exhausted:
        return _Movie()


async def _read_moov(source: _Source, moov: _Box) -> _Movie:
    duration = None
    video: tuple[int, int] | None = None
    has_video = has_audio = False
    async for box in _boxes(source, moov.body, moov.end):
        if box.kind == b"mvhd":
            duration = _mvhd_duration(await _body(source, box))
        elif box.kind == b"trak":
            handler, dims = await _read_trak(source, box)
            has_video = has_video or handler == b"vide"
            has_audio = has_audio or handler == b"soun"
            if handler == b"vide" and dims is not None and video is None:
                video = dims
    width, height = video if video is not None else (None, None)
    return _Movie(width, height, duration, audio_only=has_audio and not has_video)


async def _read_trak(source: _Source, trak: _Box) -> tuple[bytes | None, tuple[int, int] | None]:
    dims = None
    handler = None
    async for box in _boxes(source, trak.body, trak.end):
        if box.kind == b"tkhd":
            dims = _tkhd_dimensions(await _body(source, box))
        elif box.kind == b"mdia":
            hdlr = await _child(source, box, b"hdlr")
            if hdlr is not None:
                body = await _body(source, hdlr)
                handler = body[8:12] if len(body) >= 12 else None
    return handler, dims


def _mvhd_duration(body: bytes) -> float | None:
    if not body:
        return None
    if body[0] == 1:
        if len(body) < 32:
            return None
        timescale, duration = struct.unpack(">IQ", body[20:32])
        unknown = 2**64 - 1
    else:
        if len(body) < 20:
            return None
        timescale, duration = struct.unpack(">II", body[12:20])
        unknown = 2**32 - 1
    if timescale == 0 or duration == unknown:
        return None
    return float(duration / timescale)


def _tkhd_dimensions(body: bytes) -> tuple[int, int] | None:
    """A track's presentation size (16.16 fixed point), as ffprobe reports it: before the track's
    rotation matrix is applied."""
    at = 4 + (32 if body[:1] == b"\x01" else 20) + 52  # version/flags, times and ids, then the rest
    if len(body) < at + 8:
        return None
    width, height = struct.unpack(">II", body[at:at + 8])
    width, height = _dimension(width >> 16), _dimension(height >> 16)
    return (width, height) if width and height else None
