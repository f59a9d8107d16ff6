"""How ids look on the faces that do not show bare integers, parsed in one place so that no path or query
is ever built from a client's text: v1 images are `img_<n>`."""

from __future__ import annotations

import re

from shoebox_lib.errors import NotFound

IMAGE_PREFIX = "img_"
# ASCII only and at most 18 digits: int() also takes other scripts' digits, which would alias ids, and
# anything longer is beyond PostgreSQL's bigint.
_DIGITS = re.compile(r"[0-9]{1,18}")


def image_id(item_id: int) -> str:
    return f"{IMAGE_PREFIX}{item_id}"


def parse_image_id(value: str) -> int:
    """The item id of a v1 image id; anything else is an image nobody has (404, like someone else's)."""
    digits = value.removeprefix(IMAGE_PREFIX)
    if not _DIGITS.fullmatch(digits):
        raise NotFound("Image not found")
    return int(digits)
