from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shoebox_metadata.items import Items
from shoebox_metadata.quota import Quotas


def _items(request: Request) -> Items:
    items: Items = request.app.state.items
    return items


def _quotas(request: Request) -> Quotas:
    quotas: Quotas = request.app.state.quotas
    return quotas


ItemsDep = Annotated[Items, Depends(_items)]
QuotasDep = Annotated[Quotas, Depends(_quotas)]
