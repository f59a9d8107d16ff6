"""Video through PyAV (ffmpeg in its wheel): probing, poster frames, HLS renditions.

The container is opened on the RangeReader itself, so ffmpeg reads what it needs with ranged reads
(the header, a moov at the end, the packets in order) and never the whole object at once.
"""

from __future__ import annotations

import io
import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, BinaryIO, cast

import av
import av.container
import av.error
import pyvips

from . import images
from .outputs import MediaError, Output, OutputSink, Progress
from .source import RangeReader

PROBE_OPTIONS = {"probesize": str(8 << 20), "analyzeduration": str(10_000_000)}
POSTER_AT_SECONDS = 1.0
"""The poster frame is the first frame at or after this time (or a tenth of a shorter video)."""
POSTER_MAX_FRAMES = 300
"""Frames decoded at most while looking for the poster frame."""

MAX_VIDEO_PIXELS = 8192 * 4320
"""A video frame larger than this (8K) is refused."""
HLS_MAX_SECONDS = 4 * 3600
"""Videos longer than this get no HLS renditions."""
HLS_MAX_FRAMES = 1_000_000
"""Nor more frames than this, whatever the container says about duration."""
HLS_MAX_OUTPUT_BYTES = 16 << 30
"""HLS output past this is abandoned."""
HLS_SEGMENT_SECONDS = 4
HLS_TRANSCODE_HEIGHT = 720
"""The transcoded rendition's height (never above the source's)."""
HLS_ENCODER_THREADS = 2
SEGMENT_SPOOL_BYTES = 8 << 20
"""A segment is kept in memory up to this size, then spooled to a temporary file until it is stored."""


def _av_error(exc: Exception, what: str = "video") -> MediaError:
    return MediaError(f"{what}: cannot read it as a video ({' '.join(str(exc).split())[:300]})")


@contextmanager
def open_input(reader: RangeReader) -> Iterator[av.container.InputContainer]:
    reader.seek(0)
    try:
        container = av.open(reader, mode="r", options=PROBE_OPTIONS, metadata_errors="replace")
    except (av.error.FFmpegError, ValueError, OSError, UnicodeDecodeError) as exc:
        if isinstance(exc, MediaError):
            raise
        raise _av_error(exc) from None
    try:
        yield container
    except av.error.FFmpegError as exc:
        raise _av_error(exc) from None
    finally:
        container.close()


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise MediaError("video: the file has no video stream")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if ctx.width <= 0 or ctx.height <= 0:
        raise MediaError("video: the video stream has no dimensions")
    if ctx.width * ctx.height > MAX_VIDEO_PIXELS:
        raise MediaError(f"video: {ctx.width}x{ctx.height} frames are over the {MAX_VIDEO_PIXELS} pixel limit")
    return stream


def duration_seconds(container: av.container.InputContainer, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        value = float(stream.duration * stream.time_base)
        if value > 0 and math.isfinite(value):
            return round(value, 3)
    if container.duration is not None and container.duration > 0:
        return round(container.duration / av.time_base, 3)
    return None


def _fps(stream: Any) -> float | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if rate:
        value = float(rate)
        if value > 0 and math.isfinite(value):
            return round(value, 3)
    return None


@dataclass
class Probe:
    duration: float | None
    width: int  # as displayed (rotation applied)
    height: int
    coded_width: int
    coded_height: int
    rotation: int
    codec: str
    fps: float | None
    bit_rate: int | None
    pix_fmt: str | None
    audio_codec: str | None
    audio_channels: int | None
    audio_sample_rate: int | None
    format: str
    creation_time: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "duration": self.duration, "width": self.width, "height": self.height, "rotation": self.rotation,
            "codec": self.codec, "fps": self.fps, "bit_rate": self.bit_rate, "pix_fmt": self.pix_fmt,
            "audio_codec": self.audio_codec, "audio_channels": self.audio_channels,
            "audio_sample_rate": self.audio_sample_rate, "container": self.format,
            "creation_time": self.creation_time,
        }


def container_name(container: av.container.InputContainer) -> str:
    """A short name for the container: "mp4" or "mov" (one ffmpeg demuxer), "matroska", "webm", "avi"..."""
    names = container.format.name.split(",")
    if "mov" in names:
        return "mov" if str(container.metadata.get("major_brand", "")).strip() == "qt" else "mp4"
    if "matroska" in names:
        return "webm" if any(s.codec_context.name in ("vp8", "vp9", "av1") for s in container.streams.video) \
            else "matroska"
    return names[0]


def probe(container: av.container.InputContainer, rotation: int = 0) -> Probe:
    stream = _video_stream(container)
    ctx = stream.codec_context
    audio = container.streams.audio[0] if container.streams.audio else None
    swap = rotation % 180 != 0
    created = container.metadata.get("creation_time") or stream.metadata.get("creation_time")
    return Probe(
        duration=duration_seconds(container, stream),
        width=ctx.height if swap else ctx.width, height=ctx.width if swap else ctx.height,
        coded_width=ctx.width, coded_height=ctx.height, rotation=rotation,
        codec=ctx.name, fps=_fps(stream), bit_rate=(ctx.bit_rate or container.bit_rate or None),
        pix_fmt=ctx.pix_fmt,
        audio_codec=audio.codec_context.name if audio is not None else None,
        audio_channels=audio.codec_context.channels if audio is not None else None,
        audio_sample_rate=audio.codec_context.sample_rate if audio is not None else None,
        format=container_name(container), creation_time=str(created) if created else None,
    )


def poster_frame(container: av.container.InputContainer, progress: Progress | None = None) -> tuple[pyvips.Image, int]:
    """The poster frame, upright, as a pyvips image; and the video's rotation in degrees."""
    stream = _video_stream(container)
    stream.thread_type = "AUTO"
    duration = duration_seconds(container, stream) or 0.0
    target = min(POSTER_AT_SECONDS, duration / 10) if duration else 0.0
    if target > 0 and stream.time_base is not None:
        try:
            container.seek(int(target / stream.time_base), stream=stream, backward=True, any_frame=False)
        except av.error.FFmpegError:
            container.seek(0)
    chosen: av.VideoFrame | None = None
    decoded = 0
    try:
        for frame in container.decode(stream):
            decoded += 1
            chosen = frame
            if frame.time is None or frame.time >= target - 1e-3 or decoded >= POSTER_MAX_FRAMES:
                break
            if progress is not None:
                progress(min(50, decoded * 50 // POSTER_MAX_FRAMES))
    except av.error.FFmpegError as exc:
        if chosen is None:
            raise _av_error(exc) from None
    if chosen is None:
        raise MediaError("video: no frame could be decoded")
    rotation = int(getattr(chosen, "rotation", 0) or 0) % 360
    rgb = chosen.reformat(format="rgb24")
    width, height = rgb.width, rgb.height
    plane = rgb.planes[0]
    data = bytes(plane)
    stride = plane.line_size
    if stride != width * 3:
        data = b"".join(data[y * stride : y * stride + width * 3] for y in range(height))
    image = images.from_rgb(data, width, height)
    # PyAV's rotation is counter-clockwise, as ffmpeg's display matrix; libvips' rot turns clockwise.
    turn = {90: "d270", 180: "d180", 270: "d90"}.get(rotation)
    if turn is not None:
        image = image.rot(turn)
    return image, rotation


# ---- HLS ---------------------------------------------------------------------------------------


class _SegmentFile(io.RawIOBase):
    """What ffmpeg's HLS muxer writes one file into; stored in the sink when ffmpeg closes it."""

    def __init__(self, writer: _HlsWriter, path: str) -> None:
        super().__init__()
        self.writer, self.path = writer, path
        self.spool = cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=SEGMENT_SPOOL_BYTES))  # noqa: SIM115
        self.size = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        n = self.spool.write(data)
        self.size = max(self.size, self.spool.tell())
        self.writer.account(n)
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.spool.seek(offset, whence)

    def tell(self) -> int:
        return self.spool.tell()

    def close(self) -> None:
        if not self.closed:
            try:
                self.writer.store(self)
            finally:
                self.spool.close()
        super().close()


class _HlsWriter:
    """Routes the HLS muxer's files: segments into the sink as they close, playlists kept for the end."""

    def __init__(self, sink: OutputSink, prefix: str) -> None:
        self.sink, self.prefix = sink, prefix
        self.outputs: dict[str, Output] = {}
        self.playlists: dict[str, bytes] = {}
        self.written = 0
        self.error: BaseException | None = None

    def account(self, n: int) -> None:
        self.written += n
        if self.written > HLS_MAX_OUTPUT_BYTES:
            raise MediaError(f"hls: output over {HLS_MAX_OUTPUT_BYTES} bytes, abandoned")

    def open(self, url: str, flags: int, options: dict[str, Any]) -> _SegmentFile:
        name = url.rsplit("/", 1)[-1]
        if not name or name.startswith(".") or "\\" in name:
            raise MediaError(f"hls: unexpected output name {url!r}")
        return _SegmentFile(self, f"{self.prefix}/{name}")

    def store(self, file: _SegmentFile) -> None:
        file.spool.seek(0)
        if file.path.endswith(".m3u8"):
            self.playlists[file.path] = file.spool.read()
            return
        try:
            self.outputs[file.path] = self.sink.put_file(file.path, file.spool, "video/mp2t")
        except BaseException as exc:
            self.error = exc
            raise

    def finish(self) -> None:
        for path, data in self.playlists.items():
            self.outputs[path] = self.sink.put(path, data, "application/vnd.apple.mpegurl")


@dataclass
class Rendition:
    name: str
    width: int
    height: int
    copy: bool
    container: av.container.OutputContainer
    writer: _HlsWriter
    video: Any
    audio: Any | None
    audio_copy: bool
    scaler_format: str = "yuv420p"
    frames: int = 0
    bytes_video: int = 0
    next_keyframe: float = 0.0

    @property
    def playlist(self) -> str:
        return f"{self.writer.prefix}/index.m3u8"


def _even(n: float) -> int:
    return max(2, round(n / 2) * 2)


def plan_renditions(info: Probe, include_original: bool) -> list[tuple[str, int, int, bool]]:
    """(name, width, height, copy): the original copied when it is H.264, and an H.264 720p transcode
    when the source is larger or cannot be copied. Always at least one."""
    plans: list[tuple[str, int, int, bool]] = []
    can_copy = info.codec == "h264" and info.pix_fmt in (None, "yuv420p", "yuvj420p")
    if can_copy and include_original:
        plans.append(("original", info.coded_width, info.coded_height, True))
    target = min(HLS_TRANSCODE_HEIGHT, info.coded_height)
    if not plans or info.coded_height > HLS_TRANSCODE_HEIGHT:
        scale = target / info.coded_height
        plans.append((f"{target}p", _even(info.coded_width * scale), _even(target), False))
    return plans


def hls(
    container: av.container.InputContainer, info: Probe, sink: OutputSink, progress: Progress,
    *, include_original: bool = True, lo: int = 5, hi: int = 95,
) -> dict[str, Any]:
    stream = _video_stream(container)
    if info.duration is not None and info.duration > HLS_MAX_SECONDS:
        raise MediaError(f"hls: {info.duration:.0f} s is over the {HLS_MAX_SECONDS} s limit")
    in_audio = container.streams.audio[0] if container.streams.audio else None
    fps = Fraction(stream.average_rate or stream.guessed_rate or 30).limit_denominator(1001)
    renditions: list[Rendition] = []
    try:
        for name, width, height, copy in plan_renditions(info, include_original):
            writer = _HlsWriter(sink, f"output/{name}")
            out = av.open(
                f"{name}/index.m3u8", mode="w", format="hls", io_open=writer.open,
                options={
                    "hls_time": str(HLS_SEGMENT_SECONDS), "hls_playlist_type": "vod", "hls_list_size": "0",
                    "hls_segment_filename": f"{name}/seg_%05d.ts", "hls_flags": "independent_segments",
                },
            )
            if copy:
                video = out.add_stream_from_template(stream)
            else:
                video = out.add_stream("libx264", rate=fps)
                video.width, video.height, video.pix_fmt = width, height, "yuv420p"
                video.codec_context.options = {"preset": "veryfast", "crf": "23"}
                video.codec_context.thread_count = HLS_ENCODER_THREADS
                video.codec_context.gop_size = max(1, int(float(fps) * HLS_SEGMENT_SECONDS))
            audio, audio_copy = None, False
            if in_audio is not None:
                if in_audio.codec_context.name == "aac":
                    audio, audio_copy = out.add_stream_from_template(in_audio), True
                else:
                    audio = out.add_stream("aac", rate=48000)
                    audio.layout = "stereo" if (in_audio.codec_context.channels or 1) >= 2 else "mono"
            renditions.append(Rendition(name, width, height, copy, out, writer, video, audio, audio_copy))
        return _run_hls(container, stream, in_audio, renditions, info, progress, lo, hi)
    finally:
        for r in renditions:
            with suppress(av.error.FFmpegError, MediaError, OSError):
                r.container.close()


def _run_hls(
    container: av.container.InputContainer, stream: Any, in_audio: Any | None, renditions: list[Rendition],
    info: Probe, progress: Progress, lo: int, hi: int,
) -> dict[str, Any]:
    need_decode_video = any(not r.copy for r in renditions)
    need_decode_audio = any(r.audio is not None and not r.audio_copy for r in renditions)
    streams = [stream] + ([in_audio] if in_audio is not None else [])
    duration = info.duration or 0.0
    last_pct = -1
    frames = 0
    stream.thread_type = "AUTO"
    for packet in container.demux(streams):
        is_video = packet.stream.index == stream.index
        if packet.size and packet.pts is not None and packet.time_base is not None and duration:
            pct = lo + int((hi - lo) * min(1.0, float(packet.pts * packet.time_base) / duration))
            if pct != last_pct:
                last_pct = pct
                progress(pct)
        try:
            wanted = need_decode_video if is_video else need_decode_audio
            decoded = packet.decode() if wanted else []
        except av.error.FFmpegError as exc:
            raise MediaError(f"hls: the video cannot be decoded ({exc})") from None
        for r in renditions:
            if packet.size == 0:
                break
            if is_video and r.copy:
                _mux_copy(r, packet, r.video)
            elif not is_video and r.audio is not None and r.audio_copy:
                _mux_copy(r, packet, r.audio)
        for frame in decoded:
            if isinstance(frame, av.VideoFrame):
                frames += 1
                if frames > HLS_MAX_FRAMES:
                    raise MediaError(f"hls: over {HLS_MAX_FRAMES} frames, abandoned")
                for r in renditions:
                    if not r.copy:
                        _encode_video(r, frame)
            else:
                for r in renditions:
                    if r.audio is not None and not r.audio_copy:
                        for out_packet in r.audio.encode(frame):
                            r.container.mux(out_packet)
    for r in renditions:
        if not r.copy:
            for out_packet in r.video.encode(None):
                r.container.mux(out_packet)
        if r.audio is not None and not r.audio_copy:
            for out_packet in r.audio.encode(None):
                r.container.mux(out_packet)
        r.container.close()
        if r.writer.error is not None:
            raise r.writer.error
        r.writer.finish()
    return _master(renditions, info)


def _mux_copy(r: Rendition, packet: Any, out_stream: Any) -> None:
    if packet.dts is None:
        return
    in_stream = packet.stream
    packet.stream = out_stream
    try:
        r.container.mux(packet)
    finally:
        packet.stream = in_stream
    r.bytes_video += packet.size


def _encode_video(r: Rendition, frame: av.VideoFrame) -> None:
    scaled = frame.reformat(width=r.width, height=r.height, format="yuv420p")
    scaled.pts, scaled.time_base = frame.pts, frame.time_base
    r.frames += 1
    for out_packet in r.video.encode(scaled):
        r.bytes_video += out_packet.size
        r.container.mux(out_packet)


def _master(renditions: list[Rendition], info: Probe) -> dict[str, Any]:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    described: list[dict[str, Any]] = []
    duration = info.duration or 1.0
    for r in sorted(renditions, key=lambda r: r.height, reverse=True):
        segments = sorted(p for p in r.writer.outputs if p.endswith(".ts"))
        total = sum(r.writer.outputs[p].size for p in segments)
        bandwidth = max(1, int(total * 8 / max(duration, 0.001)))
        codecs = "avc1.640028" + (",mp4a.40.2" if r.audio is not None else "")
        lines.append(
            f'#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION={r.width}x{r.height},CODECS="{codecs}"'
        )
        lines.append(f"{r.name}/index.m3u8")
        described.append({
            "name": r.name, "width": r.width, "height": r.height, "copied": r.copy, "bandwidth": bandwidth,
            "playlist": r.playlist, "segments": len(segments), "size": total,
        })
    return {"master": "\n".join(lines) + "\n", "renditions": described,
            "outputs": [o for r in renditions for o in r.writer.outputs.values()]}
