from __future__ import annotations

from pathlib import Path

from shoebox_auth import __version__
from shoebox_auth.admin import UserAdmin
from shoebox_auth.api import cl, directory, ente, ente_admin, internal, keys, sessions, users
from shoebox_auth.container import Container
from shoebox_auth.directory import Directory
from shoebox_auth.ente.service import build_ente
from shoebox_auth.keys import KeyRing, LocalKeySource
from shoebox_auth.models import BUS, SCHEMA
from shoebox_auth.service import AuthService
from shoebox_auth.sessions import Sessions
from shoebox_auth.settings import AuthSettings
from shoebox_lib.auth import TokenVerifier
from shoebox_lib.db import Migrations
from shoebox_lib.runtime import Runtime
from shoebox_lib.settings import Settings, get_settings
from shoebox_lib.web import Face, ServiceApp, create_app
from shoebox_lib.web.access import Access, Mount

NAME = "auth"
MIGRATIONS = Migrations(schema=SCHEMA, directory=Path(__file__).parent / "migrations")

MOUNTS = [
    Mount(keys.jwks_router, Face.V1, Access.PUBLIC),
    Mount(keys.router, Face.CL, Access.PUBLIC),
    Mount(cl.public_router, Face.CL, Access.PUBLIC),
    Mount(cl.router, Face.CL, Access.USER),
    Mount(sessions.public_router, Face.ENTE, Access.PUBLIC),  # seed 000's sign-in speaks the Ente face
    Mount(sessions.router, Face.ENTE, Access.USER),
    Mount(ente.public_router, Face.ENTE, Access.PUBLIC),
    Mount(ente.router, Face.ENTE, Access.USER),
    Mount(directory.router, Face.ENTE, Access.USER),
    # A non-admin gets Ente's own refusal here, not the 403 of other ADMIN routes (`install_admin_refusal`).
    Mount(ente_admin.router, Face.ENTE, Access.ADMIN),
    Mount(internal.router, Face.INTERNAL, Access.INTERNAL),
    # Last: its /users/{user_id:int} must not shadow the named /users/… routes.
    Mount(users.router, Face.CL, Access.ADMIN),
]


def create_service(settings: Settings | None = None, auth_settings: AuthSettings | None = None) -> ServiceApp:
    settings = settings or get_settings()
    auth_settings = auth_settings or AuthSettings()
    runtime = Runtime(settings, NAME, BUS, storage=False)
    ring = KeyRing(runtime.db, settings)
    runtime.verifier = TokenVerifier(settings, LocalKeySource(ring))
    auth = AuthService(runtime.db, ring, settings)
    user_admin = UserAdmin(runtime.db, auth)
    runtime.container = Container(
        auth=auth, keys=ring, sessions=Sessions(runtime.db, auth), admin=user_admin,
        ente=build_ente(runtime, auth, user_admin, auth_settings), directory=Directory(runtime.db),
        proxies=auth_settings.proxies,
    )
    runtime.on_start += [ring.ensure_key, auth.ensure_admin]
    service = create_app(NAME, __version__, MOUNTS, runtime=runtime)
    ente_admin.install_admin_refusal(service.app)
    return service
