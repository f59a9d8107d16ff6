"""Two small, real task types a plug-in worker offers, run with

    shoebox worker --module examples.plugin_worker.tasks --credential <issued by an admin>

- `grayscale_preview`: a grayscale PNG preview of an image (Pillow), at most `size` pixels on a side
  (param, default 256, 16..2048), read through the input's seekable ranged reader, never downloaded whole.
- `word_count`: words, lines and bytes of a text file, streamed in 64 KiB ranges with progress after
  each; `pause` (seconds, at most 5) waits after each range, to watch progress or to demonstrate what a
  killed worker does to its job.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from shoebox_lib.worker.runtime import JobContext, JobFailed, task

WORD_COUNT_STEP = 64 * 1024
MAX_PAUSE_SECONDS = 5.0


def _int_param(job: JobContext, name: str, default: int, low: int, high: int) -> int:
    value = job.params.get(name, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise JobFailed(f"{name} must be a whole number, not {value!r}") from None
    if not low <= number <= high:
        raise JobFailed(f"{name} must be from {low} to {high}, not {number}")
    return number


@task("grayscale_preview")
def grayscale_preview(job: JobContext) -> dict[str, Any]:
    if not job.inputs:
        raise JobFailed("grayscale_preview needs one image file")
    size = _int_param(job, "size", 256, 16, 2048)
    with job.inputs[0].open() as source:
        try:
            with Image.open(source) as image:
                source_size = image.size
                image.draft("L", (size, size))  # JPEG decodes straight at a fraction of its size
                job.progress(30)
                upright = ImageOps.exif_transpose(image)
                preview = upright.convert("L")
                preview.thumbnail((size, size))
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as error:
            raise JobFailed(f"{job.inputs[0].name} is not an image we can read: {error}") from error
    job.progress(80)
    encoded = io.BytesIO()
    preview.save(encoded, "PNG", optimize=True)
    stored = job.put_output("output/preview.png", encoded.getvalue(), "image/png")
    return {"width": preview.width, "height": preview.height, "source_width": source_size[0],
            "source_height": source_size[1], "bytes": stored.size}


@task("word_count")
def word_count(job: JobContext) -> dict[str, Any]:
    if not job.inputs:
        raise JobFailed("word_count needs one text file")
    pause = float(job.params.get("pause", 0) or 0)
    if not 0 <= pause <= MAX_PAUSE_SECONDS:
        raise JobFailed(f"pause is from 0 to {MAX_PAUSE_SECONDS} seconds, not {pause}")
    source = job.inputs[0]
    words = lines = 0
    in_word = False
    offset = 0
    while offset < source.size:
        chunk = source.read_range(offset, WORD_COUNT_STEP)
        if not chunk:
            break
        offset += len(chunk)
        lines += chunk.count(b"\n")
        parts = chunk.split()
        words += len(parts)
        # A word cut by the range's edge was counted in the previous range already.
        if in_word and parts and not chunk[:1].isspace():
            words -= 1
        in_word = not chunk[-1:].isspace()
        job.progress(min(99, offset * 100 // max(source.size, 1)))
        if pause:
            time.sleep(pause)
            job.check()
    counts = {"words": words, "lines": lines, "bytes": offset, "attempt": job.attempt, "worker": job.worker_id}
    job.put_output("output/counts.json", json.dumps(counts).encode(), "application/json")
    return counts
