from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shoebox_metadata.items import Items
from shoebox_metadata.library import Library
from shoebox_metadata.links import Links
from shoebox_metadata.quota import Quotas
from shoebox_metadata.users import Users


def _items(request: Request) -> Items:
    items: Items = request.app.state.items
    return items


def _quotas(request: Request) -> Quotas:
    quotas: Quotas = request.app.state.quotas
    return quotas


def _library(request: Request) -> Library:
    library: Library = request.app.state.library
    return library


def _links(request: Request) -> Links:
    links: Links = request.app.state.links
    return links


def _users(request: Request) -> Users:
    users: Users = request.app.state.users
    return users


ItemsDep = Annotated[Items, Depends(_items)]
LibraryDep = Annotated[Library, Depends(_library)]
LinksDep = Annotated[Links, Depends(_links)]
UsersDep = Annotated[Users, Depends(_users)]
QuotasDep = Annotated[Quotas, Depends(_quotas)]
