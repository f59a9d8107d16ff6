"""Owners lately seen with room left in their quota, believed for a few seconds.

URLs for objects of unknown size (Ente's upload-urls and multipart-upload-urls) are refused only when nothing
at all is left, and the commit then counts the real size atomically at metadata. So a figure a few seconds
old lets through nothing the commit would not refuse, and signing need not ask metadata every time. Only
room is remembered: an owner found with none is asked again next time, so freeing space takes effect at once.
"""

from __future__ import annotations

import time
from collections import OrderedDict

ROOM_SECONDS = 10.0
ROOM_OWNERS = 4096  # at most this many owners remembered; the least recently seen go first


class RoomSeen:
    def __init__(self, seconds: float = ROOM_SECONDS, owners: int = ROOM_OWNERS) -> None:
        self.seconds = seconds
        self.owners = owners
        self._until: OrderedDict[int, float] = OrderedDict()

    def believed(self, owner_id: int) -> bool:
        """Whether the owner was seen with room left within the last `seconds`."""
        until = self._until.get(owner_id)
        if until is None:
            return False
        if until < time.monotonic():
            del self._until[owner_id]
            return False
        return True

    def saw_room(self, owner_id: int) -> None:
        self._until[owner_id] = time.monotonic() + self.seconds
        self._until.move_to_end(owner_id)
        while len(self._until) > self.owners:
            self._until.popitem(last=False)

    def forget(self) -> None:
        self._until.clear()
