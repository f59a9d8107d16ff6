from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shoebox_metadata.items import Items


def _items(request: Request) -> Items:
    items: Items = request.app.state.items
    return items


ItemsDep = Annotated[Items, Depends(_items)]
