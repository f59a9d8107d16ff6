"""The one place routes get metadata's cores from: `<Thing>Dep` aliases over the service's container."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from shoebox_metadata.authenticator.service import Authenticator
from shoebox_metadata.container import Container
from shoebox_metadata.filedata.service import FileDataStore
from shoebox_metadata.library.collections import Collections
from shoebox_metadata.library.files import Files
from shoebox_metadata.library.items import Items
from shoebox_metadata.library.links import Links
from shoebox_metadata.library.objects import Objects
from shoebox_metadata.library.shares import Shares
from shoebox_metadata.library.trash import Trash
from shoebox_metadata.quota import Quotas
from shoebox_metadata.users import Users


def container(request: Request) -> Container:
    return cast(Container, request.app.state.container)


def _quotas(request: Request) -> Quotas:
    return container(request).quotas


def _objects(request: Request) -> Objects:
    return container(request).objects


def _items(request: Request) -> Items:
    return container(request).items


def _files(request: Request) -> Files:
    return container(request).files


def _collections(request: Request) -> Collections:
    return container(request).collections


def _shares(request: Request) -> Shares:
    return container(request).shares


def _trash(request: Request) -> Trash:
    return container(request).trash


def _links(request: Request) -> Links:
    return container(request).links


def _users(request: Request) -> Users:
    return container(request).users


def _authenticator(request: Request) -> Authenticator:
    return container(request).authenticator


def _file_data(request: Request) -> FileDataStore:
    return container(request).file_data


QuotasDep = Annotated[Quotas, Depends(_quotas)]
ObjectsDep = Annotated[Objects, Depends(_objects)]
ItemsDep = Annotated[Items, Depends(_items)]
FilesDep = Annotated[Files, Depends(_files)]
CollectionsDep = Annotated[Collections, Depends(_collections)]
SharesDep = Annotated[Shares, Depends(_shares)]
TrashDep = Annotated[Trash, Depends(_trash)]
LinksDep = Annotated[Links, Depends(_links)]
UsersDep = Annotated[Users, Depends(_users)]
AuthenticatorDep = Annotated[Authenticator, Depends(_authenticator)]
FileDataDep = Annotated[FileDataStore, Depends(_file_data)]
