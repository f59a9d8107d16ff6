"""Real media files made on the fly, for tests and benchmarks (nothing here runs in production)."""

from __future__ import annotations

import io
import math
import os
import struct
import zlib
from typing import Any

import av
from PIL import Image

from .outputs import Cancelled


def exif_jpeg(size: tuple[int, int] = (600, 400)) -> bytes:
    """Left half red, right half blue, stored sideways: EXIF orientation 6 says turn 90 degrees clockwise.
    Canon EOS 5D, taken 2021-06-15 14:30:00 at +02:00, at the Eiffel tower."""
    width, height = size
    image = Image.new("RGB", size, (220, 20, 20))
    image.paste((20, 20, 220), (width // 2, 0, width, height))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 5D"
    exif[0x0132] = "2021:06:16 09:00:00"
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "2021:06:15 14:30:00"
    sub[0x9011] = "+02:00"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 51.0, 29.52), "E", (2.0, 17.0, 40.2)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def noisy_jpeg(width: int, height: int) -> bytes:
    image = Image.effect_noise((width, height), 64).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


def alpha_png() -> bytes:
    """300x200, transparent on the left half, opaque green on the right."""
    image = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    image.paste((0, 200, 0, 255), (150, 0, 300, 200))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def heic() -> bytes:
    """A real HEVC-coded HEIC (as iPhones write), made with pillow-heif."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    image = Image.new("RGB", (320, 240), (10, 180, 60))
    out = io.BytesIO()
    image.save(out, format="HEIF", quality=80)
    data = out.getvalue()
    assert data[4:12] == b"ftypheic"
    return data


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header claiming width x height pixels, with a few bytes of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def mp4(
    *, frames: int = 48, width: int = 320, height: int = 240, fps: int = 24, audio: bool = True,
    codec: str = "libx264", noise: bool = False, rotation: int | None = None,
) -> bytes:
    """An MP4 made with PyAV: frames of changing colour (or noise), a 440 Hz tone when audio."""
    buffer = io.BytesIO()
    out = av.open(buffer, "w", format="mp4")
    video: Any = out.add_stream(codec, rate=fps)
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    video.codec_context.gop_size = 2 * fps  # a keyframe every 2 s, as cameras do
    if rotation is not None:
        video.set_display_rotation(rotation)
    sound: Any = None
    if audio:
        sound = out.add_stream("aac", rate=44100)
        sound.layout = "mono"
    for i in range(frames):
        frame = av.VideoFrame(width, height, "rgb24")
        pixels = os.urandom(width * height * 3) if noise else bytes([(i * 5) % 256, 100, 200]) * (width * height)
        frame.planes[0].update(pixels)
        for packet in video.encode(frame.reformat(format="yuv420p")):
            out.mux(packet)
    for packet in video.encode():
        out.mux(packet)
    if sound is not None:
        total = 44100 * frames // fps
        for start in range(0, total, 1024):
            n = min(1024, total - start)
            chunk = av.AudioFrame(format="fltp", layout="mono", samples=n)
            samples = [0.3 * math.sin(2 * math.pi * 440 * (start + j) / 44100) for j in range(n)]
            chunk.planes[0].update(struct.pack(f"{n}f", *samples))
            chunk.sample_rate, chunk.pts = 44100, start
            for packet in sound.encode(chunk):
                out.mux(packet)
        for packet in sound.encode():
            out.mux(packet)
    out.close()
    return buffer.getvalue()


class Recorder:
    """A progress callback that records, and optionally cancels past a percent."""

    def __init__(self, cancel_after: int | None = None) -> None:
        self.seen: list[int] = []
        self.cancel_after = cancel_after

    def __call__(self, pct: int) -> None:
        assert 0 <= pct <= 100
        self.seen.append(pct)
        if self.cancel_after is not None and pct > self.cancel_after:
            raise Cancelled()
