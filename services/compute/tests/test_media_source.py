"""RangeReader: a seekable file over ranged reads, holding a bounded read-ahead."""

from __future__ import annotations

import io
import os

import pytest

from shoebox_compute.media.outputs import MediaError
from shoebox_compute.media.source import RangeReader, bytes_reader


def test_reads_and_seeks_like_a_file_and_holds_at_most_its_blocks() -> None:
    data = os.urandom(100_000)
    reader = bytes_reader(data, block=4096, max_blocks=3)
    plain = io.BytesIO(data)
    for offset, whence, n in [(0, 0, 10), (5000, 0, 9000), (-100, 2, 500), (-3000, 1, 1), (99_990, 0, 100)]:
        assert reader.seek(offset, whence) == plain.seek(offset, whence)
        assert reader.read(n) == plain.read(n)
        assert reader.tell() == plain.tell()
        assert reader.held <= 3 * 4096
    reader.seek(0)
    assert reader.read() == data  # larger than the cache: passed straight through
    assert reader.max_held <= 3 * 4096
    buffer = bytearray(10)
    reader.seek(20)
    assert reader.readinto(buffer) == 10
    assert bytes(buffer) == data[20:30]
    assert reader.seekable()
    assert reader.readable()
    assert not reader.writable()


def test_repeated_reads_of_one_block_fetch_it_once() -> None:
    reader = bytes_reader(bytes(50_000), block=8192, max_blocks=2)
    for _ in range(20):
        reader.seek(100)
        reader.read(1000)
    assert reader.fetches == 1
    assert reader.bytes_fetched == 8192


def test_a_short_ranged_read_is_a_media_error_and_bad_seeks_are_refused() -> None:
    reader = RangeReader(lambda offset, length: b"x" * min(length, 10), 1000, block=100)
    with pytest.raises(MediaError, match="ended early"):
        reader.read(50)
    with pytest.raises(OSError, match="before the start"):
        reader.seek(-1)
    reader.close()
    with pytest.raises(ValueError, match="closed"):
        reader.read(1)
