"""The one place routes get metadata's cores from: `<Thing>Dep` aliases over the service's container."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from shoebox_lib.auth import OptionalUser
from shoebox_metadata.authenticator.service import Authenticator
from shoebox_metadata.container import Container
from shoebox_metadata.filedata.service import FileDataStore
from shoebox_metadata.library.albums import Albums
from shoebox_metadata.library.collections import Collections
from shoebox_metadata.library.files import Files
from shoebox_metadata.library.items import Items
from shoebox_metadata.library.links import Links
from shoebox_metadata.library.objects import Objects
from shoebox_metadata.library.replicas import Replication
from shoebox_metadata.library.share_views import ShareViews
from shoebox_metadata.library.shares import Shares
from shoebox_metadata.library.trash import Trash
from shoebox_metadata.quota import Quotas
from shoebox_metadata.search.service import Search
from shoebox_metadata.store.audit import Audit
from shoebox_metadata.store.entities import Entities
from shoebox_metadata.store.kinds import StorePermission
from shoebox_metadata.store.modes import Actor, Modes
from shoebox_metadata.users import Users


def container(request: Request) -> Container:
    return cast(Container, request.app.state.container)


async def _quotas(request: Request) -> Quotas:
    return container(request).quotas


async def _objects(request: Request) -> Objects:
    return container(request).objects


async def _replication(request: Request) -> Replication:
    return container(request).replication


async def _items(request: Request) -> Items:
    return container(request).items


async def _albums(request: Request) -> Albums:
    return container(request).albums


async def _files(request: Request) -> Files:
    return container(request).files


async def _collections(request: Request) -> Collections:
    return container(request).collections


async def _shares(request: Request) -> Shares:
    return container(request).shares


async def _search(request: Request) -> Search:
    return container(request).search


async def _share_views(request: Request) -> ShareViews:
    return container(request).share_views


async def _trash(request: Request) -> Trash:
    return container(request).trash


async def _links(request: Request) -> Links:
    return container(request).links


async def _users(request: Request) -> Users:
    return container(request).users


async def _authenticator(request: Request) -> Authenticator:
    return container(request).authenticator


async def _file_data(request: Request) -> FileDataStore:
    return container(request).file_data


QuotasDep = Annotated[Quotas, Depends(_quotas)]
ObjectsDep = Annotated[Objects, Depends(_objects)]
ReplicationDep = Annotated[Replication, Depends(_replication)]
ItemsDep = Annotated[Items, Depends(_items)]
AlbumsDep = Annotated[Albums, Depends(_albums)]
FilesDep = Annotated[Files, Depends(_files)]
CollectionsDep = Annotated[Collections, Depends(_collections)]
SharesDep = Annotated[Shares, Depends(_shares)]
SearchDep = Annotated[Search, Depends(_search)]
ShareViewsDep = Annotated[ShareViews, Depends(_share_views)]
TrashDep = Annotated[Trash, Depends(_trash)]
LinksDep = Annotated[Links, Depends(_links)]
UsersDep = Annotated[Users, Depends(_users)]
AuthenticatorDep = Annotated[Authenticator, Depends(_authenticator)]
FileDataDep = Annotated[FileDataStore, Depends(_file_data)]


async def _entities(request: Request) -> Entities:
    return container(request).entities


async def _modes(request: Request) -> Modes:
    return container(request).modes


async def _audit(request: Request) -> Audit:
    return container(request).audit


EntitiesDep = Annotated[Entities, Depends(_entities)]
ModesDep = Annotated[Modes, Depends(_modes)]
AuditDep = Annotated[Audit, Depends(_audit)]


async def _store_reader(modes: ModesDep, caller: OptionalUser) -> Actor:
    return await modes.check(caller, StorePermission.READ)


async def _store_writer(modes: ModesDep, caller: OptionalUser) -> Actor:
    return await modes.check(caller, StorePermission.WRITE)


# CL's store: who may read or write it depends on its mode (a token that is sent is verified first, always).
StoreReader = Annotated[Actor, Depends(_store_reader)]
StoreWriter = Annotated[Actor, Depends(_store_writer)]
