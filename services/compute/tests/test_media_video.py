"""The media tasks on videos made here with PyAV: probe, poster frame, thumbnails, HLS, limits."""

from __future__ import annotations

import io
from typing import Any

import av
import pytest
from PIL import Image

from shoebox_compute.media import samples, tasks
from shoebox_compute.media.outputs import Cancelled, MediaError, MemorySink
from shoebox_compute.media.samples import Recorder
from shoebox_compute.media.source import bytes_reader

MP4 = samples.mp4(frames=48, width=320, height=240)


def run(
    task: Any, data: bytes, params: dict[str, Any] | None = None, **kwargs: Any
) -> tuple[dict[str, Any], MemorySink]:
    sink = MemorySink()
    progress = kwargs.pop("progress", Recorder())
    return task(bytes_reader(data), len(data), params or {}, sink, progress, **kwargs), sink


@pytest.fixture(scope="module")
def big_mp4() -> bytes:
    """Noise compresses badly: a 10 s video of several MiB."""
    return samples.mp4(frames=240, width=320, height=240, noise=True)


def test_probe_reports_duration_dimensions_codec_and_a_poster() -> None:
    result, sink = run(tasks.video_probe, MP4)
    assert result["duration"] == pytest.approx(2.0, abs=0.1)
    assert (result["width"], result["height"], result["codec"]) == (320, 240, "h264")
    assert result["fps"] == pytest.approx(24)
    assert result["audio_codec"] == "aac"
    assert result["container"] == "mp4"
    poster = Image.open(io.BytesIO(sink.files["output/poster.jpg"]))
    assert poster.format == "JPEG"
    assert poster.size == (256, 192)
    assert result["poster"]["path"] == "output/poster.jpg"


def test_video_thumbnail_metadata_exif_and_hash() -> None:
    thumb, sink = run(tasks.media_thumbnail, MP4, {"width": 128})
    assert (thumb["width"], thumb["height"], thumb["source_kind"]) == (128, 96, "video")
    assert Image.open(io.BytesIO(sink.files[thumb["thumbnail_path"]])).size == (128, 96)
    variant, _ = run(tasks.thumbnail_variant, MP4, name="thumb", max_side=256)
    assert (variant["width"], variant["height"]) == (256, 192)
    meta, _ = run(tasks.media_metadata, MP4)
    assert meta["kind"] == "video"
    assert meta["mime_type"] == "video/mp4"
    assert (meta["width"], meta["height"]) == (320, 240)
    assert meta["duration"] == pytest.approx(2.0, abs=0.1)
    exif, _ = run(tasks.exif, MP4)
    assert isinstance(exif, dict)
    assert "taken_at" in exif
    hashed, _ = run(tasks.hash_task, MP4)
    assert hashed["perceptual_source"] == "poster_frame"
    assert len(hashed["phash"]) == 16


def test_a_rotated_phone_video_is_described_as_displayed() -> None:
    data = samples.mp4(frames=12, width=320, height=240, audio=False, rotation=90)
    meta, _ = run(tasks.media_metadata, data)
    assert (meta["width"], meta["height"]) == (240, 320)
    thumb, _ = run(tasks.media_thumbnail, data)
    assert (thumb["width"], thumb["height"]) == (192, 256)


def _playable(files: dict[str, bytes], playlist: str) -> int:
    """Decode every segment a media playlist lists; the number of video frames."""
    base = playlist.rsplit("/", 1)[0]
    segments = [line for line in files[playlist].decode().splitlines() if line and not line.startswith("#")]
    assert segments
    frames = 0
    for name in segments:
        with av.open(io.BytesIO(files[f"{base}/{name}"]), mode="r") as container:
            frames += len(list(container.decode(video=0)))
    return frames


def test_hls_copies_h264_and_writes_playable_playlists() -> None:
    progress = Recorder()
    result, sink = run(tasks.hls_streaming, MP4, {"include_original": "true"}, progress=progress)
    assert result["master_playlist"] == "output/adaptive.m3u8"
    assert result["variants_generated"] == 1
    assert result["renditions"][0]["name"] == "original"
    assert result["renditions"][0]["copied"] is True
    master = sink.files["output/adaptive.m3u8"].decode()
    assert master.startswith("#EXTM3U")
    assert "original/index.m3u8" in master
    assert sink.types["output/adaptive.m3u8"] == "application/vnd.apple.mpegurl"
    assert _playable(sink.files, "output/original/index.m3u8") == 48
    assert progress.seen[-1] == 100
    assert len(progress.seen) > 3


def test_hls_transcodes_what_it_cannot_copy_and_downscales_big_sources() -> None:
    mpeg4 = samples.mp4(frames=24, width=320, height=240, codec="mpeg4", audio=False)
    result, sink = run(tasks.hls_streaming, mpeg4)
    assert [(r["name"], r["copied"]) for r in result["renditions"]] == [("240p", False)]
    assert _playable(sink.files, "output/240p/index.m3u8") == 24
    big = samples.mp4(frames=12, width=1280, height=960, audio=True)
    result, sink = run(tasks.hls_streaming, big)
    names = {r["name"]: r for r in result["renditions"]}
    assert set(names) == {"original", "720p"}
    assert (names["720p"]["width"], names["720p"]["height"]) == (960, 720)
    assert _playable(sink.files, "output/720p/index.m3u8") == 12
    master = sink.files["output/adaptive.m3u8"].decode()
    assert "RESOLUTION=960x720" in master
    assert "RESOLUTION=1280x960" in master
    result, _ = run(tasks.hls_streaming, big, {"include_original": "false"})
    assert [r["name"] for r in result["renditions"]] == ["720p"]


def test_a_big_video_is_range_read_with_bounded_memory(big_mp4: bytes) -> None:
    assert len(big_mp4) > 3 << 20
    held_limit = 4 * (64 << 10)
    reader = bytes_reader(big_mp4, block=64 << 10, max_blocks=4)
    result = tasks.video_probe(reader, len(big_mp4), {}, MemorySink(), Recorder())
    assert result["duration"] == pytest.approx(10.0, abs=0.2)
    assert reader.max_held <= held_limit
    assert reader.bytes_fetched < len(big_mp4) // 2  # the header, the moov at the end, the poster's packets
    reader = bytes_reader(big_mp4, block=64 << 10, max_blocks=4)
    sink = MemorySink()
    tasks.hls_streaming(reader, len(big_mp4), {}, sink, Recorder())
    assert reader.max_held <= held_limit
    assert reader.bytes_fetched < 3 * len(big_mp4)
    assert len([p for p in sink.files if p.endswith(".ts")]) >= 2  # 4 s segments of a 10 s video


def test_cancelled_progress_stops_hls(big_mp4: bytes) -> None:
    progress = Recorder(cancel_after=30)
    reader = bytes_reader(big_mp4, block=64 << 10, max_blocks=4)
    sink = MemorySink()
    with pytest.raises(Cancelled):
        tasks.hls_streaming(reader, len(big_mp4), {}, sink, progress)
    assert "output/adaptive.m3u8" not in sink.files
    assert max(progress.seen) < 100
    assert reader.bytes_fetched < len(big_mp4)


def test_corrupt_and_truncated_videos_fail_clearly() -> None:
    corrupt = MP4[:32] + bytes(range(256)) * 40  # an ftyp box, then garbage
    truncated = MP4[: len(MP4) // 3]  # the moov at the end is gone
    for data in (corrupt, truncated):
        for task in (tasks.video_probe, tasks.hls_streaming, tasks.media_thumbnail, tasks.media_metadata):
            with pytest.raises(MediaError):
                run(task, data)
    with pytest.raises(MediaError, match="image"):
        run(tasks.hls_streaming, samples.alpha_png())
    with pytest.raises(MediaError, match="include_original"):
        run(tasks.hls_streaming, MP4, {"include_original": "maybe"})
