"""What metadata's routes and consumers work with: its cores, built once in `app.create_service`."""

from __future__ import annotations

from dataclasses import dataclass

from shoebox_lib.db import Database
from shoebox_lib.mqtt_topics import ClMqtt
from shoebox_lib.storage import Storage
from shoebox_metadata.authenticator.service import Authenticator
from shoebox_metadata.clock import Clock
from shoebox_metadata.filedata.service import FileDataStore
from shoebox_metadata.library.albums import Albums
from shoebox_metadata.library.collections import Collections
from shoebox_metadata.library.files import Files
from shoebox_metadata.library.items import Items
from shoebox_metadata.library.links import Links
from shoebox_metadata.library.objects import Objects
from shoebox_metadata.library.reannounce import Reannouncer
from shoebox_metadata.library.replicas import Replication
from shoebox_metadata.library.reports import Reports
from shoebox_metadata.library.share_views import ShareViews
from shoebox_metadata.library.shares import Shares
from shoebox_metadata.library.trash import Trash
from shoebox_metadata.quota import Quotas
from shoebox_metadata.search.service import Search
from shoebox_metadata.settings import MetadataSettings
from shoebox_metadata.store.audit import Audit
from shoebox_metadata.store.entities import Entities
from shoebox_metadata.store.modes import Modes
from shoebox_metadata.store.notices import StoreNotices
from shoebox_metadata.users import Users


@dataclass(frozen=True)
class Container:
    quotas: Quotas
    objects: Objects
    items: Items
    albums: Albums
    files: Files
    collections: Collections
    shares: Shares
    trash: Trash
    links: Links
    share_views: ShareViews
    search: Search
    reports: Reports
    replication: Replication
    users: Users
    authenticator: Authenticator
    file_data: FileDataStore
    entities: Entities
    modes: Modes
    audit: Audit
    reannouncer: Reannouncer

    @classmethod
    def build(cls, db: Database, storage: Storage, users: Users, *, default_quota: int, presign_seconds: int,
              secret: str, public_url: str, store: MetadataSettings | None = None,
              mqtt: ClMqtt | None = None) -> Container:
        """Every core over one database and storage (what the service runs, and what core tests use)."""
        quotas = Quotas(db, default_quota)
        clock = Clock(default_quota)
        objects = Objects(db, storage, presign_seconds)
        files = Files(db, objects, quotas, clock)
        store = store or MetadataSettings()
        notices = StoreNotices(mqtt)
        items, albums = Items(db, objects, clock), Albums(db, clock)
        links = Links(db, files, objects, clock, secret, public_url)
        return cls(
            quotas=quotas, objects=objects, items=items, albums=albums, files=files,
            collections=Collections(db, clock), shares=Shares(db, clock),
            trash=Trash(db, quotas, clock, retention_seconds=store.trash_retention_seconds),
            links=links, share_views=ShareViews(db, links, items, albums), search=Search(db),
            reports=Reports(quotas, clock, after_job=notices.job_reported), users=users,
            replication=Replication(db, list(storage.tiers)),
            authenticator=Authenticator(db, clock), file_data=FileDataStore(db, objects, clock),
            entities=Entities(db, objects, quotas, clock, max_upload=store.store_max_upload_bytes,
                              quota_bytes=store.store_quota_bytes, notices=notices),
            modes=Modes(db, auth_disabled=store.store_auth_disabled, read_auth_enabled=store.store_read_auth_enabled,
                        forced="store_read_auth_enabled" in store.model_fields_set),
            audit=Audit(db, storage, grace_seconds=store.store_orphan_grace_seconds),
            reannouncer=Reannouncer(db, [tier for tier in storage.tiers if tier != "primary"],
                                    store.reconcile_grace_seconds),
        )
