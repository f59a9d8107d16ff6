"""Probing a stored file's header: images through Pillow, mp4/mov through the box walker (moov first or
last), the type's fallbacks, and garbage that must never make it raise."""

from __future__ import annotations

import io
import os
import random
import struct
from datetime import UTC, datetime, timedelta, timezone

import pytest
from PIL import Image

from shoebox_metadata.store.intake import HEAD_BYTES
from shoebox_metadata.store.kinds import MediaType
from shoebox_metadata.store.probe import MAX_READS, MOOV_WINDOW, Probed, probe

MiB = 1024 * 1024


class Stored:
    """A stored object read by ranges, as the store reads S3 or the filesystem; counts the reads."""

    def __init__(self, data: bytes, *, broken: bool = False) -> None:
        self.data = data
        self.broken = broken
        self.reads: list[tuple[int, int]] = []

    async def read_range(self, offset: int, length: int) -> bytes:
        self.reads.append((offset, length))
        assert 0 <= offset < len(self.data)
        assert 0 < length <= MOOV_WINDOW
        if self.broken:
            raise OSError("storage is unreachable")
        return self.data[offset:offset + length]


async def probe_bytes(data: bytes, filename: str | None = None, declared: str | None = None,
                      stored: Stored | None = None) -> Probed:
    stored = stored or Stored(data)
    return await probe(data[:HEAD_BYTES], size=len(data), filename=filename, declared_type=declared,
                       read_range=stored.read_range)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# --- Images -----------------------------------------------------------------------------------------------


def image_bytes(fmt: str, size: tuple[int, int] = (64, 48), exif: Image.Exif | None = None,
                noise: bool = False) -> bytes:
    image = (Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)) if noise
             else Image.new("RGB", size, "teal"))
    out = io.BytesIO()
    image.save(out, fmt, **({"exif": exif} if exif is not None else {}))
    return out.getvalue()


def exif_with(original: str | None = None, plain: str | None = None, offset: str | None = None,
              subsec: str | None = None) -> Image.Exif:
    exif = Image.Exif()
    if plain is not None:
        exif[306] = plain
    sub = exif.get_ifd(0x8769)
    if original is not None:
        sub[36867] = original
    if offset is not None:
        sub[36881] = offset
    if subsec is not None:
        sub[37521] = subsec
    return exif


@pytest.mark.parametrize(("fmt", "mime", "extension"), [("JPEG", "image/jpeg", "jpg"), ("PNG", "image/png", "png"),
                                                        ("WEBP", "image/webp", "webp")])
async def test_an_image_with_exif(fmt: str, mime: str, extension: str) -> None:
    data = image_bytes(fmt, (640, 480), exif_with(original="2021:06:15 10:20:30", plain="2020:01:01 00:00:00"))
    found = await probe_bytes(data, filename=None, declared="application/octet-stream")
    assert found == Probed(mime_type=mime, media_type=MediaType.IMAGE, extension=extension, width=640,
                           height=480, duration=None, taken_at=ms(datetime(2021, 6, 15, 10, 20, 30, tzinfo=UTC)))


async def test_the_plain_exif_date_when_there_is_no_original() -> None:
    found = await probe_bytes(image_bytes("JPEG", exif=exif_with(plain="2019:12:31 23:59:59")), "IMG_1.JPG")
    assert found.taken_at == ms(datetime(2019, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert found.extension == "jpg"


async def test_an_exif_offset_and_fraction_are_honoured() -> None:
    exif = exif_with(original="2022:03:04 08:00:00", offset="+02:00", subsec="25")
    found = await probe_bytes(image_bytes("JPEG", exif=exif))
    tz = timezone(timedelta(hours=2))
    assert found.taken_at == ms(datetime(2022, 3, 4, 8, 0, 0, tzinfo=tz)) + 250


@pytest.mark.parametrize("value", ["0000:00:00 00:00:00", "    :  :     :  :  ", "yesterday", "2021:13:01 00:00:00"])
async def test_a_placeholder_exif_date_is_no_date(value: str) -> None:
    found = await probe_bytes(image_bytes("JPEG", exif=exif_with(original=value)))
    assert (found.mime_type, found.width, found.taken_at) == ("image/jpeg", 64, None)


async def test_an_image_without_exif_has_no_date() -> None:
    found = await probe_bytes(image_bytes("PNG", (3, 5)), "drawing.png", "image/png")
    assert (found.width, found.height, found.taken_at) == (3, 5, None)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF", "BMP", "GIF"])
async def test_an_image_larger_than_the_head_is_read_from_its_header(fmt: str) -> None:
    data = image_bytes(fmt, (2000, 1400), noise=True)
    assert len(data) > HEAD_BYTES
    stored = Stored(data)
    found = await probe_bytes(data, stored=stored)
    assert (found.media_type, found.width, found.height) == (MediaType.IMAGE, 2000, 1400)
    assert stored.reads == []  # an image's size is in its first bytes


# --- ISO-BMFF ---------------------------------------------------------------------------------------------


def box(kind: bytes, *children: bytes) -> bytes:
    body = b"".join(children)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def large_box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4sQ", 1, kind, 16 + len(body)) + body


def ftyp(major: bytes = b"isom", *compatible: bytes) -> bytes:
    return box(b"ftyp", major, struct.pack(">I", 512), *compatible)


def mvhd(timescale: int, duration: int, version: int = 0) -> bytes:
    times = struct.pack(">QQIQ" if version == 1 else ">IIII", 0, 0, timescale, duration)
    return box(b"mvhd", bytes([version, 0, 0, 0]), times, b"\x00" * 80)


def tkhd(width: int, height: int, version: int = 0) -> bytes:
    ids = struct.pack(">QQIIQ" if version == 1 else ">IIIII", 0, 0, 1, 0, 0)
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    rest = b"\x00" * 8 + struct.pack(">hhhh", 0, 0, 0, 0) + matrix
    return box(b"tkhd", bytes([version, 0, 0, 3]), ids, rest, struct.pack(">II", width << 16, height << 16))


def trak(handler: bytes, width: int = 0, height: int = 0, version: int = 0) -> bytes:
    hdlr = box(b"hdlr", b"\x00" * 4, b"\x00" * 4, handler, b"\x00" * 12, b"name\x00")
    mdhd = box(b"mdhd", b"\x00" * 24)
    stbl = box(b"minf", box(b"stbl", box(b"stsd", b"\x00" * 64)))
    return box(b"trak", tkhd(width, height, version), box(b"edts", b"\x00" * 16), box(b"mdia", mdhd, hdlr, stbl))


def movie(*, moov_last: bool, mdat_size: int = 4096, major: bytes = b"isom", version: int = 0,
          traks: tuple[bytes, ...] | None = None) -> bytes:
    tracks = traks if traks is not None else (trak(b"soun"), trak(b"vide", 1920, 1080, version))
    moov = box(b"moov", mvhd(600, 600 * 12 + 300, version), *tracks, box(b"udta", b"\x00" * 40))
    mdat = large_box(b"mdat", os.urandom(mdat_size)) if mdat_size > MiB else box(b"mdat", os.urandom(mdat_size))
    parts = [ftyp(major, b"isom", b"mp42"), box(b"free", b"")]
    parts += [mdat, moov] if moov_last else [moov, mdat]
    return b"".join(parts)


async def test_an_mp4_with_its_moov_first() -> None:
    data = movie(moov_last=False, mdat_size=3 * MiB)
    stored = Stored(data)
    found = await probe_bytes(data, "clip.MP4", "video/mp4", stored)
    assert found == Probed(mime_type="video/mp4", media_type=MediaType.VIDEO, extension="mp4", width=1920,
                           height=1080, duration=12.5, taken_at=None)
    assert stored.reads == []


async def test_an_mp4_with_its_moov_at_the_end_is_read_by_ranges() -> None:
    data = movie(moov_last=True, mdat_size=5 * MiB)
    stored = Stored(data)
    found = await probe_bytes(data, "clip.mp4", None, stored)
    assert (found.mime_type, found.width, found.height, found.duration) == ("video/mp4", 1920, 1080, 12.5)
    assert 1 <= len(stored.reads) <= 3  # the moov's header, then the moov once


async def test_a_mov_with_64_bit_times() -> None:
    data = movie(moov_last=True, major=b"qt  ", version=1, mdat_size=2 * MiB)
    found = await probe_bytes(data, None, None)
    assert (found.mime_type, found.extension, found.width, found.height, found.duration) == (
        "video/quicktime", "mov", 1920, 1080, 12.5)


async def test_a_movie_with_sound_only_is_audio() -> None:
    found = await probe_bytes(movie(moov_last=False, traks=(trak(b"soun"),)), "song.m4a")
    assert (found.mime_type, found.media_type, found.extension) == ("audio/mp4", MediaType.AUDIO, "m4a")
    assert (found.width, found.height, found.duration) == (None, None, 12.5)


async def test_a_movie_whose_storage_fails_keeps_its_type() -> None:
    data = movie(moov_last=True, mdat_size=2 * MiB)
    found = await probe_bytes(data, "clip.mp4", stored=Stored(data, broken=True))
    assert (found.mime_type, found.media_type, found.width, found.duration) == ("video/mp4", MediaType.VIDEO,
                                                                                None, None)


async def test_a_3gp_brand() -> None:
    found = await probe_bytes(movie(moov_last=False, major=b"3gp5"))
    assert (found.mime_type, found.extension) == ("video/3gpp", "3gp")


# --- The type when the bytes say nothing ----------------------------------------------------------------


@pytest.mark.parametrize(("filename", "declared", "mime", "media_type", "extension"), [
    ("photo.jpg", None, "image/jpeg", MediaType.IMAGE, "jpg"),  # CL's suite: random bytes named .jpg
    ("C:\\Users\\me\\clip.MOV", "application/octet-stream", "video/quicktime", MediaType.VIDEO, "mov"),
    ("notes", "text/plain; charset=utf-8", "text/plain", MediaType.FILE, "txt"),
    (None, "audio/mpeg", "audio/mpeg", MediaType.AUDIO, "mp3"),
    (None, "application/octet-stream", "application/octet-stream", MediaType.FILE, None),
    ("weird.name.$$$", "not a type", "application/octet-stream", MediaType.FILE, None),
    ("x.unknownext", None, "application/octet-stream", MediaType.FILE, "unknownext"),
    (None, None, "application/octet-stream", MediaType.FILE, None),
])
async def test_random_bytes_take_their_type_from_the_name_then_the_declaration(
        filename: str | None, declared: str | None, mime: str, media_type: MediaType, extension: str | None) -> None:
    found = await probe_bytes(bytes(random.Random(7).randbytes(1024)), filename, declared)
    assert (found.mime_type, found.media_type, found.extension) == (mime, media_type, extension)
    assert (found.width, found.height, found.duration, found.taken_at) == (None, None, None, None)


@pytest.mark.parametrize(("data", "mime"), [
    (b"%PDF-1.7\n" + b"\x00" * 100, "application/pdf"),
    (b"ID3\x04\x00" + b"\x00" * 100, "audio/mpeg"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt " + b"\x00" * 100, "audio/wav"),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm" + b"\x00" * 100, "video/webm"),
    (b"PK\x03\x04" + b"\x00" * 100, "application/zip"),
])
async def test_the_bytes_outrank_the_name(data: bytes, mime: str) -> None:
    found = await probe_bytes(data, "misnamed.jpg", "image/jpeg")
    assert found.mime_type == mime
    assert found.extension == "jpg"  # the extension is the file's own name's


async def test_an_empty_head() -> None:
    found = await probe(b"", size=0, filename=None, declared_type=None, read_range=Stored(b"x").read_range)
    assert found.mime_type == "application/octet-stream"


# --- Garbage ----------------------------------------------------------------------------------------------


def mutations(rng: random.Random, data: bytes, count: int) -> list[bytes]:
    out = []
    for _ in range(count):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 12)):
            at = rng.randrange(len(mutated))
            mutated[at] = rng.randrange(256)
        if rng.random() < 0.3:  # a plausible-looking but wrong box size
            at = rng.randrange(0, len(mutated) - 4)
            mutated[at:at + 4] = struct.pack(">I", rng.choice([0, 1, 7, 8, 2**31, 2**32 - 1, rng.randrange(2**32)]))
        if rng.random() < 0.3:
            mutated = mutated[:rng.randrange(1, len(mutated))]
        out.append(bytes(mutated))
    return out


async def test_garbage_never_makes_it_raise() -> None:
    rng = random.Random(20240611)
    samples = [rng.randbytes(rng.randrange(1, 4096)) for _ in range(300)]
    samples += [ftyp() + rng.randbytes(rng.randrange(0, 2048)) for _ in range(200)]
    samples += [box(b"moov", rng.randbytes(rng.randrange(0, 512))) for _ in range(50)]
    samples += mutations(rng, movie(moov_last=False), 300)
    samples += mutations(rng, movie(moov_last=True, mdat_size=1000), 300)
    samples += mutations(rng, image_bytes("JPEG", exif=exif_with(original="2021:06:15 10:20:30")), 200)
    samples += mutations(rng, image_bytes("PNG", exif=exif_with(original="2021:06:15 10:20:30")), 100)
    for data in samples:
        stored = Stored(data)
        found = await probe_bytes(data, rng.choice([None, "x.jpg", "y.mp4", "z"]), stored=stored)
        assert found.mime_type
        assert len(stored.reads) <= MAX_READS
        assert found.width is None or found.width > 0
        assert found.duration is None or found.duration >= 0


async def test_a_huge_claimed_moov_is_not_read_whole() -> None:
    """A moov that says it is 1 GiB, beyond the head: the walker reads box headers, never the claim."""
    fake = struct.pack(">I4s", 2**30, b"moov")
    data = ftyp() + box(b"mdat", b"\x00" * (HEAD_BYTES + 10)) + fake
    size = len(data) - len(fake) + 2**30
    stored = Stored(data + b"\x00" * 1000)

    async def read_range(offset: int, length: int) -> bytes:
        assert length <= MOOV_WINDOW
        return await stored.read_range(offset, min(length, 1000)) if offset < len(stored.data) else b""

    found = await probe(data[:HEAD_BYTES], size=size, filename=None, declared_type=None, read_range=read_range)
    assert (found.mime_type, found.width, found.duration) == ("video/mp4", None, None)
    assert len(stored.reads) <= MAX_READS
