"""The Ente sign-in core, assembled: codes by email, SRP, key attributes and account details.

Knows nothing of HTTP: `shoebox_auth.api.ente` renders its answers in Ente's shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

from shoebox_auth.ente.accounts import Accounts
from shoebox_auth.ente.details import Details
from shoebox_auth.ente.email_signin import EmailSignIn
from shoebox_auth.ente.key_attributes import KeyAttributes
from shoebox_auth.ente.mailer import mailer_from
from shoebox_auth.ente.otts import OneTimeCodes
from shoebox_auth.ente.srp_signin import SrpSignIn
from shoebox_auth.ente.usage import MetadataUsage
from shoebox_auth.service import AuthService
from shoebox_auth.settings import AuthSettings
from shoebox_lib.runtime import Runtime


@dataclass(frozen=True)
class EnteAuth:
    accounts_url: str  # where Ente's apps open the accounts web view: our public URL
    email: EmailSignIn
    srp: SrpSignIn
    key_attributes: KeyAttributes
    details: Details


def build_ente(runtime: Runtime, auth: AuthService, settings: AuthSettings | None = None) -> EnteAuth:
    """The core wired to a service's runtime: SMTP or the log for mail, metadata's internal route for usage."""
    settings = settings or AuthSettings()
    shared = runtime.settings
    accounts = Accounts(runtime.db, auth)
    codes = OneTimeCodes(runtime.db, shared.secret_key, ttl_seconds=settings.ott_ttl_seconds,
                         max_wrong_attempts=settings.ott_max_wrong_attempts)
    usage = MetadataUsage(runtime.internal("metadata", shared.metadata_url))
    return EnteAuth(
        accounts_url=shared.public_url,
        email=EmailSignIn(accounts, codes, mailer_from(settings), auth.limiter,
                          code_ttl_seconds=settings.ott_ttl_seconds),
        srp=SrpSignIn(accounts, auth.limiter, secret_key=shared.secret_key,
                      session_ttl_seconds=settings.srp_session_ttl_seconds),
        key_attributes=KeyAttributes(accounts),
        details=Details(accounts, usage, storage_bytes=shared.default_quota_bytes),
    )
