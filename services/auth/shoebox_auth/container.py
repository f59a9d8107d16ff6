"""What the auth service's routes are handed: its cores, built once in `app.create_service`."""

from __future__ import annotations

from dataclasses import dataclass

from shoebox_auth.addresses import TrustedProxies
from shoebox_auth.admin import UserAdmin
from shoebox_auth.directory import Directory
from shoebox_auth.ente.service import EnteAuth
from shoebox_auth.keys import KeyRing
from shoebox_auth.service import AuthService
from shoebox_auth.sessions import Sessions


@dataclass(frozen=True)
class Container:
    auth: AuthService
    keys: KeyRing
    sessions: Sessions
    admin: UserAdmin
    ente: EnteAuth
    directory: Directory
    proxies: TrustedProxies  # whose X-Forwarded-For names the client (`SHOEBOX_AUTH_TRUSTED_PROXIES`)
