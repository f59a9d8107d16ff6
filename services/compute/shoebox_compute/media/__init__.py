"""The built-in media tasks, as blocking functions that a worker runs in a thread.

The interface (what the broker wires in):

- ``source.RangeReader(read_range, size, *, block=1 << 20, max_blocks=8)``: a seekable, read-only
  ``io.RawIOBase`` over ``read_range(offset, length) -> bytes`` (a ranged GET of the object), holding at
  most ``block * max_blocks`` bytes; counters ``bytes_fetched``, ``fetches``, ``held``, ``max_held``.
  ``bytes_reader`` and ``file_reader`` make one over bytes or a local file.
- ``outputs.Output(path, content_type, size)``: a file a task produced, ``path`` relative to the job
  (``"output/thumbnail.jpg"``). ``outputs.OutputSink``: ``put(path, data, content_type)`` for small
  outputs, ``put_file(path, file, content_type)`` streamed for larger ones (HLS segments, conversions).
  ``outputs.MemorySink`` keeps them in a dict.
- ``outputs.MediaError``: the input cannot be processed and retrying will not help (a decompression
  bomb, a truncated or corrupt file, content that is not what its name says, an unsupported format,
  a bad parameter): fail the job with its message, do not retry. ``outputs.Cancelled``: raised by the
  progress callback to stop a task. ``outputs.Progress = Callable[[int], None]``: percent 0..100.
- ``tasks.*``: each ``(source, size, params, sink, progress) -> dict`` (JSON-able):
  ``media_thumbnail`` (``thumbnail_path``), ``thumbnail_variant(..., name=, max_side=)`` (the v1
  ``thumb``/``medium`` JPEGs), ``image_conversion`` (``output_path`` and ``format``, which CL's
  clients read from the job's params), ``exif`` (every tag by name, ``gps``, ``taken_at`` in ms UTC,
  ``taken_at_raw``), ``hash_task`` (``sha256``, ``md5``, ``phash``, ``dhash``), ``video_probe``,
  ``hls_streaming`` (``master_playlist`` = ``output/adaptive.m3u8``, ``variants_generated``) and
  ``media_metadata`` (the automatic metadata of an upload).

How: images through pyvips (libvips from the ``pyvips-binary`` wheel) reading a ``SourceCustom`` over
the RangeReader, so a JPEG is shrunk on load and never held whole in Python; HEVC-coded HEIC through
pillow-heif, since pyvips-binary has no HEVC decoder (its header is still read by pyvips); video through
PyAV (ffmpeg in its wheel) opened on the RangeReader itself. Kinds are sniffed from the content, never
from a name. Limits are module constants: ``images.MAX_PIXELS`` (100 MP) and ``images.MAX_SIDE``,
``images.HEIF_DECODE_MAX_BYTES``, ``video.MAX_VIDEO_PIXELS``, ``video.HLS_MAX_SECONDS``,
``video.HLS_MAX_FRAMES``, ``video.HLS_MAX_OUTPUT_BYTES``. ``samples`` makes real media files for tests
and benchmarks. Never call these for end-to-end-encrypted data: that is the caller's decision.
"""

from .outputs import Cancelled, MediaError, MemorySink, Output, OutputSink, Progress
from .source import RangeReader, bytes_reader, file_reader

__all__ = ["Cancelled", "MediaError", "MemorySink", "Output", "OutputSink", "Progress", "RangeReader",
           "bytes_reader", "file_reader"]
