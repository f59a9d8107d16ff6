"""How ids look on the faces that do not show bare integers, parsed in one place so that no path or query
is ever built from a client's text: v1 images are `img_<n>`, albums `alb_<n>`, shares `shr_<n>`."""

from __future__ import annotations

import re

from shoebox_lib.errors import NotFound

IMAGE_PREFIX = "img_"
ALBUM_PREFIX = "alb_"
SHARE_PREFIX = "shr_"
# ASCII only and at most 18 digits: int() also takes other scripts' digits, which would alias ids, and
# anything longer is beyond PostgreSQL's bigint.
_DIGITS = re.compile(r"[0-9]{1,18}")


def image_id(item_id: int) -> str:
    return f"{IMAGE_PREFIX}{item_id}"


def album_id(collection_id: int) -> str:
    return f"{ALBUM_PREFIX}{collection_id}"


def share_id(link_id: int) -> str:
    return f"{SHARE_PREFIX}{link_id}"


def _parse(value: str, prefix: str, what: str) -> int:
    digits = value.removeprefix(prefix)
    if not _DIGITS.fullmatch(digits):
        raise NotFound(f"{what} not found")
    return int(digits)


def parse_image_id(value: str) -> int:
    """The item id of a v1 image id; anything else is an image nobody has (404, like someone else's)."""
    return _parse(value, IMAGE_PREFIX, "Image")


def parse_album_id(value: str) -> int:
    """The collection id of a v1 album id (`alb_<n>`); anything else is an album nobody has."""
    return _parse(value, ALBUM_PREFIX, "Album")


def parse_share_id(value: str) -> int:
    """The link id of a v1 share id (`shr_<n>`); anything else is a share nobody has."""
    return _parse(value, SHARE_PREFIX, "Share")
