from __future__ import annotations

from pathlib import Path

from shoebox_auth import __version__
from shoebox_auth.admin import Admin
from shoebox_auth.api import cl, directory, ente, keys, sessions, users
from shoebox_auth.ente.service import build_ente
from shoebox_auth.keys import KeyRing, LocalKeySource
from shoebox_auth.models import BUS, SCHEMA
from shoebox_auth.service import AuthService
from shoebox_auth.sessions import Sessions
from shoebox_lib.auth import TokenVerifier
from shoebox_lib.db import Migrations
from shoebox_lib.runtime import Runtime
from shoebox_lib.settings import Settings, get_settings
from shoebox_lib.web import ServiceApp, create_app

NAME = "auth"
MIGRATIONS = Migrations(schema=SCHEMA, directory=Path(__file__).parent / "migrations")


def create_service(settings: Settings | None = None) -> ServiceApp:
    settings = settings or get_settings()
    runtime = Runtime(settings, NAME, BUS, storage=False)
    ring = KeyRing(runtime.db, settings)
    runtime.verifier = TokenVerifier(settings, LocalKeySource(ring))
    auth = AuthService(runtime.db, ring, settings)
    runtime.state.update(auth=auth, sessions=Sessions(runtime.db, auth), admin=Admin(runtime.db, auth))
    runtime.state["ente"] = build_ente(runtime, auth)
    runtime.on_start += [ring.ensure_key, auth.ensure_admin]
    # users.router last: its /users/{user_id:int} must not shadow the named /users/… routes.
    routers = [keys.router, cl.router, sessions.router, ente.router, directory.router, users.router]
    return create_app(NAME, __version__, routers, lifespan=runtime.lifespan,
                      checks=runtime.checks())
