"""What CL's clients hear of the store over MQTT: `store/<port>/items` when a file's content is stored
(created or replaced), and `mInsight/<port>/entity_item_status/<id>` (retained) as compute works on it.
Best effort and never in the way: the publisher queues and returns (`shoebox_lib.mqtt`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.mqtt_topics import ClMqtt
from shoebox_metadata.models import Item
from shoebox_metadata.store import repo
from shoebox_metadata.store.space import STORE_SPACE


class StoreNotices:
    def __init__(self, mqtt: ClMqtt | None) -> None:
        self.mqtt = mqtt

    async def file_stored(self, entity_id: int, md5: str | None, status: str | None) -> None:
        if self.mqtt is None:
            return
        await self.mqtt.item_stored(entity_id, md5)
        if status is not None:
            await self.mqtt.entity_status(entity_id, status, md5=md5)

    async def job_reported(self, session: AsyncSession, item: Item) -> None:
        """A job on a file reported back: its processing's state, as the entity now shows it."""
        if self.mqtt is None or item.owner_id != STORE_SPACE:
            return
        state = (await repo.processing_states(session, [item.id]))[item.id]
        await self.mqtt.entity_status(item.id, state, md5=item.md5)
