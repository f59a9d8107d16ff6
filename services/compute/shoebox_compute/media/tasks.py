"""The built-in media tasks: blocking functions a worker runs in a thread.

Each takes (source, size, params, sink, progress) and returns a JSON-able result; files go to the
sink under "output/". MediaError means the input can never be processed; Cancelled (raised by the
progress callback) stops the task where it is.
"""

from __future__ import annotations

import hashlib
import tempfile
from typing import Any, BinaryIO, cast

import pyvips

from . import exifdata, images, video
from .images import Header
from .outputs import MediaError, Output, OutputSink, Progress
from .source import RangeReader

THUMBNAIL_DEFAULT = 256
THUMBNAIL_MAX = 4096
"""The largest box media_thumbnail accepts."""
VARIANT_QUALITY = 82
HASH_CHUNK = 1 << 20
CONVERT_SPOOL_BYTES = 32 << 20

MIME_TYPES = {
    "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif", "tiff": "image/tiff",
    "heic": "image/heic", "avif": "image/avif",
}


# ---- parameters -----------------------------------------------------------------------------


def _int_param(params: dict[str, Any], key: str, lo: int, hi: int) -> int | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise MediaError(f"parameter {key} must be an integer, not {value!r}") from None
    if not lo <= number <= hi:
        raise MediaError(f"parameter {key} must be between {lo} and {hi}, not {number}")
    return number


def _bool_param(params: dict[str, Any], key: str, default: bool) -> bool:
    value = params.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise MediaError(f"parameter {key} must be true or false, not {value!r}")


def _kind(source: RangeReader) -> str:
    kind = images.sniff(source)
    if kind == "unknown":
        raise MediaError("the content is neither an image nor a video we can read (its name does not matter)")
    return kind


def _check_size(source: RangeReader, size: int) -> None:
    if size != source.size:
        raise MediaError(f"the declared size {size} is not the source's {source.size}")
    if size == 0:
        raise MediaError("the file is empty")


# ---- thumbnails -----------------------------------------------------------------------------


def _thumbnail_image(
    source: RangeReader, kind: str, width: int | None, height: int | None, progress: Progress
) -> tuple[pyvips.Image, dict[str, Any]]:
    """An upright thumbnail of an image, or of a video's poster frame; and what the source was."""
    if kind == "video":
        with video.open_input(source) as container:
            poster, rotation = video.poster_frame(container, progress)
            info = video.probe(container, rotation)
        progress(60)
        box_w, box_h = images._fit(width, height, THUMBNAIL_DEFAULT)
        thumb = poster.thumbnail_image(box_w, height=box_h, size="down")
        return thumb, {"source_kind": "video", "source_format": info.format, "source_width": info.width,
                       "source_height": info.height}
    header = images.read_header(source)
    progress(5)
    thumb = images.thumbnail(source, width, height, default=THUMBNAIL_DEFAULT, progress=progress, lo=5, hi=85,
                             header=header)
    display_w, display_h = header.display_size
    return thumb, {"source_kind": "image", "source_format": header.format, "source_width": display_w,
                   "source_height": display_h}


def media_thumbnail(
    source: RangeReader, size: int, params: dict[str, Any], sink: OutputSink, progress: Progress
) -> dict[str, Any]:
    """CL's media_thumbnail: params width, height (either alone keeps the aspect ratio; neither is 256),
    optional format (jpg, png, webp; by default png when the image has alpha, else jpg)."""
    progress(0)
    _check_size(source, size)
    width = _int_param(params, "width", 1, THUMBNAIL_MAX)
    height = _int_param(params, "height", 1, THUMBNAIL_MAX)
    kind = _kind(source)
    thumb, about = _thumbnail_image(source, kind, width, height, progress)
    requested = params.get("format")
    fmt = images.normalise_format(requested) if requested else ("png" if thumb.hasalpha() else "jpeg")
    quality = _int_param(params, "quality", 1, 100)
    data = images.save(thumb, fmt, quality)
    suffix, content_type, _ = images.SAVERS[fmt]
    progress(95)
    out = sink.put(f"output/thumbnail{suffix}", data, content_type)
    progress(100)
    return {"thumbnail_path": out.path, "path": out.path, "content_type": out.content_type, "format": fmt,
            "width": thumb.width, "height": thumb.height, "size": out.size, **about}


def thumbnail_variant(
    source: RangeReader, size: int, params: dict[str, Any], sink: OutputSink, progress: Progress,
    *, name: str, max_side: int,
) -> dict[str, Any]:
    """An automatic variant ("thumb" at 256, "medium" at 1280): a JPEG within max_side, upright, alpha on white."""
    if not name.isidentifier():
        raise ValueError(f"bad variant name {name!r}")
    progress(0)
    _check_size(source, size)
    thumb, _ = _thumbnail_image(source, _kind(source), max_side, max_side, progress)
    data = images.save(thumb, "jpeg", VARIANT_QUALITY)
    progress(95)
    out = sink.put(f"output/{name}.jpg", data, "image/jpeg")
    progress(100)
    return {"variant": name, "path": out.path, "content_type": out.content_type, "width": thumb.width,
            "height": thumb.height, "size": out.size}


# ---- conversion -----------------------------------------------------------------------------


class _Target:
    """A pyvips custom target spooling what libvips writes, carrying callback errors out."""

    def __init__(self) -> None:
        self.spool = cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=CONVERT_SPOOL_BYTES))  # noqa: SIM115
        self.error: BaseException | None = None
        self.target = pyvips.TargetCustom()
        self.target.on_write(self._write)

    def _write(self, data: bytes) -> int:
        try:
            return self.spool.write(data)
        except BaseException as exc:
            self.error = exc
            return -1


def image_conversion(
    source: RangeReader, size: int, params: dict[str, Any], sink: OutputSink, progress: Progress
) -> dict[str, Any]:
    """CL's image_conversion: params format (jpg, png, webp, avif, tiff, gif) and quality (1-100).

    Streams where it can: an upright image is decoded and encoded in strips; one that EXIF says to
    turn is decoded whole (bounded by MAX_PIXELS) so it can be turned. Metadata is kept.
    The result's output_path and format are what CL's clients read (from the job's params).
    """
    progress(0)
    _check_size(source, size)
    requested = str(params.get("format") or "").strip().lower()
    if not requested:
        raise MediaError("parameter format is required (jpg, png, webp, avif, tiff, gif)")
    fmt = images.normalise_format(requested)
    quality = _int_param(params, "quality", 1, 100)
    if _kind(source) != "image":
        raise MediaError("image_conversion takes an image, and this is a video")
    header = images.read_header(source)
    progress(5)
    suffix, content_type, keeps_alpha = images.SAVERS[fmt]
    watch = images._Watch(source, progress, 5, 90)
    target = _Target()

    def convert() -> tuple[int, int]:
        if header.format == "heic" and header.heif_compression == "hevc":
            image = images._heif_via_pillow(source, header)
        else:
            access = "sequential" if header.orientation in (0, 1) else "random"
            image = pyvips.Image.new_from_source(watch.source(), "", access=access, fail_on=images.FAIL_ON)
            if header.pages > 1 and fmt != "gif":
                image = image.crop(0, 0, image.width, header.height)
            image = image.autorot()
        image = images.to_srgb8(image)
        if not keeps_alpha:
            image = images.flatten(image)
        options: dict[str, Any] = {}
        if fmt in ("jpeg", "webp", "avif"):
            options["Q"] = quality or (85 if fmt != "avif" else 60)
        image.write_to_target(target.target, suffix, **options)
        return image.width, image.height

    try:
        width, height = images._run(watch, header.format, convert)
        if target.error is not None:
            raise target.error
        out_size = target.spool.tell()
        target.spool.seek(0)
        progress(92)
        out = sink.put_file(f"output/converted{suffix}", target.spool, content_type)
    finally:
        target.spool.close()
    progress(100)
    return {"output_path": out.path, "format": requested, "content_type": content_type, "width": width,
            "height": height, "size": out.size or out_size, "quality": quality, "source_format": header.format}


# ---- exif and metadata ----------------------------------------------------------------------


def _exif_summary(header: Header) -> tuple[dict[str, Any], dict[str, Any]]:
    """(every tag by name, the computed summary: taken_at, taken_at_raw, taken_at_offset, gps, camera)."""
    parsed = exifdata.parse_exif(header.exif)
    if parsed is None:
        return {}, {"taken_at": None, "taken_at_raw": None, "taken_at_offset": None, "gps": None, "camera": None}
    taken, raw, offset = exifdata.capture_time(parsed)
    return exifdata.tags(parsed), {"taken_at": taken, "taken_at_raw": raw, "taken_at_offset": offset,
                                   "gps": exifdata.gps(parsed), "camera": exifdata.camera(parsed)}


def exif(
    source: RangeReader, size: int, params: dict[str, Any], sink: OutputSink, progress: Progress
) -> dict[str, Any]:
    """CL's exif: every EXIF tag by its name (Make, Model, DateTime, DateTimeOriginal, ..., GPS nested),
    plus gps {latitude, longitude[, altitude]} in decimal degrees, taken_at in ms since the epoch (UTC;
    the local time is taken as UTC when EXIF gives no offset) and taken_at_raw, the text it came from.
    A video gives its container's creation_time the same way. Only the header is read."""
    progress(0)
    _check_size(source, size)
    if _kind(source) == "video":
        with video.open_input(source) as container:
            created = container.metadata.get("creation_time")
            tags = {str(k): str(v)[:4096] for k, v in container.metadata.items()}
        progress(100)
        return {**tags, "taken_at": exifdata.parse_time(created) if created else None, "taken_at_raw": created,
                "taken_at_offset": None, "gps": None, "camera": None}
    header = images.read_header(source)
    all_tags, summary = _exif_summary(header)
    progress(100)
    return {**all_tags, **summary}


def media_metadata(
    source: RangeReader, size: int, params: dict[str, Any], sink: OutputSink, progress: Progress
) -> dict[str, Any]:
    """The automatic metadata of an upload: kind, format, mime_type, width and height as displayed,
    taken_at (ms), camera, gps; for a video also duration (s), codec and fps. Pixels are not decoded
    for an image; a video has one frame decoded (for its rotation)."""
    progress(0)
    _check_size(source, size)
    if _kind(source) == "video":
        with video.open_input(source) as container:
            _, rotation = video.poster_frame(container)
            info = video.probe(container, rotation)
        progress(100)
        return {"kind": "video", "format": info.format, "mime_type": _video_mime(info.format),
                "width": info.width, "height": info.height, "duration": info.duration, "codec": info.codec,
                "fps": info.fps, "audio_codec": info.audio_codec,
                "taken_at": exifdata.parse_time(info.creation_time) if info.creation_time else None,
                "taken_at_raw": info.creation_time, "camera": None, "gps": None}
    header = images.read_header(source)
    _, summary = _exif_summary(header)
    width, height = header.display_size
    progress(100)
    return {"kind": "image", "format": header.format, "mime_type": MIME_TYPES.get(header.format),
            "width": width, "height": height, "orientation": header.orientation, "has_alpha": header.has_alpha,
            "pages": header.pages, "duration": None, **summary}


def _video_mime(container: str) -> str:
    return {"mp4": "video/mp4", "mov": "video/quicktime", "webm": "video/webm", "matroska": "video/x-matroska",
            "avi": "video/x-msvideo", "mpegts": "video/mp2t", "ogg": "video/ogg"}.get(container, f"video/{container}")


# ---- hashes ---------------------------------------------------------------------------------


def hash_task(
    source: RangeReader, size: int, params: dict[str, Any], sink: OutputSink, progress: Progress
) -> dict[str, Any]:
    """CL's hash: sha256 and md5 streamed over the whole source, and for an image (or a video's poster
    frame) 64-bit perceptual hashes, phash (DCT) and dhash (gradient), as 16 hex digits.

    Content that is not media still gets its sha256 and md5; its perceptual hashes are null, with the
    reason in perceptual_error."""
    progress(0)
    if size != source.size:
        raise MediaError(f"the declared size {size} is not the source's {source.size}")
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    source.seek(0)
    done, last = 0, -1
    while chunk := source.read(HASH_CHUNK):
        sha.update(chunk)
        md5.update(chunk)
        done += len(chunk)
        pct = 70 * done // max(size, 1)
        if pct != last:
            last = pct
            progress(pct)
    if done != size:
        raise MediaError(f"the source ended after {done} of {size} bytes")
    result: dict[str, Any] = {"sha256": sha.hexdigest(), "md5": md5.hexdigest(), "size": size,
                              "phash": None, "dhash": None, "perceptual_error": None}
    kind = images.sniff(source)
    try:
        if kind == "unknown":
            raise MediaError("not an image or a video")
        thumb, _ = _thumbnail_image(source, kind, 256, 256, lambda pct: progress(70 + pct * 25 // 100))
        result["phash"], result["dhash"] = images.phash(thumb), images.dhash(thumb)
        result["perceptual_source"] = "poster_frame" if kind == "video" else "image"
    except MediaError as exc:
        result["perceptual_error"] = str(exc)
    progress(100)
    return result


# ---- video ----------------------------------------------------------------------------------


def video_probe(
    source: RangeReader, size: int, params: dict[str, Any], sink: OutputSink, progress: Progress
) -> dict[str, Any]:
    """Duration (s), width and height as displayed, codec, fps, audio; and a poster-frame thumbnail
    (JPEG within 256, or params width/height) stored as output/poster.jpg."""
    progress(0)
    _check_size(source, size)
    if _kind(source) != "video":
        raise MediaError("video_probe takes a video, and this is an image")
    with video.open_input(source) as container:
        poster, rotation = video.poster_frame(container, progress)
        info = video.probe(container, rotation)
    progress(60)
    width = _int_param(params, "width", 1, THUMBNAIL_MAX)
    height = _int_param(params, "height", 1, THUMBNAIL_MAX)
    box_w, box_h = images._fit(width, height, THUMBNAIL_DEFAULT)
    thumb = poster.thumbnail_image(box_w, height=box_h, size="down")
    out: Output = sink.put("output/poster.jpg", images.save(thumb, "jpeg", VARIANT_QUALITY), "image/jpeg")
    progress(100)
    return {**info.as_dict(), "poster": {"path": out.path, "content_type": out.content_type,
                                         "width": thumb.width, "height": thumb.height, "size": out.size}}


def hls_streaming(
    source: RangeReader, size: int, params: dict[str, Any], sink: OutputSink, progress: Progress
) -> dict[str, Any]:
    """CL's hls_streaming: output/adaptive.m3u8 (the master playlist) and, per rendition,
    output/<name>/index.m3u8 and its MPEG-TS segments. Renditions: "original", copied without
    re-encoding when the source is H.264 and include_original (default true); and an H.264/AAC
    transcode at 720p (or the source's height if lower) when the source is larger or cannot be copied.
    Bounded by video.HLS_MAX_SECONDS, HLS_MAX_FRAMES and HLS_MAX_OUTPUT_BYTES."""
    progress(0)
    _check_size(source, size)
    include_original = _bool_param(params, "include_original", True)
    if _kind(source) != "video":
        raise MediaError("hls_streaming takes a video, and this is an image")
    with video.open_input(source) as container:
        info = video.probe(container)
        progress(3)
        built = video.hls(container, info, sink, progress, include_original=include_original)
    master = sink.put("output/adaptive.m3u8", built["master"].encode(), "application/vnd.apple.mpegurl")
    progress(100)
    renditions = built["renditions"]
    return {
        "master_playlist": master.path, "variants_generated": len(renditions), "renditions": renditions,
        "total_segments": sum(r["segments"] for r in renditions), "include_original": include_original,
        "duration": info.duration, "width": info.width, "height": info.height, "codec": info.codec,
    }
