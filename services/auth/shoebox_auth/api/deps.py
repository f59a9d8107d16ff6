from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shoebox_auth.keys import KeyRing
from shoebox_auth.service import AuthService


def _service(request: Request) -> AuthService:
    service: AuthService = request.app.state.auth
    return service


def _keys(request: Request) -> KeyRing:
    keys: KeyRing = request.app.state.auth.keys
    return keys


Auth = Annotated[AuthService, Depends(_service)]
Keys = Annotated[KeyRing, Depends(_keys)]
