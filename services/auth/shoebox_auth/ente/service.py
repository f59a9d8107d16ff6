"""The Ente core, assembled: codes by email, SRP, key attributes, account details and plans, admin.

Knows nothing of HTTP: `shoebox_auth.api.ente` and `api.ente_admin` render its answers in Ente's shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

from shoebox_auth.admin import UserAdmin
from shoebox_auth.ente.accounts import Accounts
from shoebox_auth.ente.admin import EmailMfa, EnteAdmin
from shoebox_auth.ente.details import Details
from shoebox_auth.ente.email_signin import EmailSignIn
from shoebox_auth.ente.key_attributes import KeyAttributes
from shoebox_auth.ente.mailer import mailer_from
from shoebox_auth.ente.otts import OneTimeCodes
from shoebox_auth.ente.plans import Plans
from shoebox_auth.ente.srp_signin import SrpSignIn
from shoebox_auth.ente.usage import MetadataUsage
from shoebox_auth.service import AuthService
from shoebox_auth.settings import AuthSettings
from shoebox_lib.runtime import Runtime


@dataclass(frozen=True)
class EnteAuth:
    email: EmailSignIn
    srp: SrpSignIn
    key_attributes: KeyAttributes
    details: Details
    email_mfa: EmailMfa
    admin: EnteAdmin


def build_ente(runtime: Runtime, auth: AuthService, users: UserAdmin, settings: AuthSettings) -> EnteAuth:
    """The core wired to a service's runtime: SMTP or the log for mail, metadata's internal route for usage."""
    shared = runtime.settings
    accounts = Accounts(runtime.db, auth)
    codes = OneTimeCodes(runtime.db, shared.secret_key, ttl_seconds=settings.ott_ttl_seconds,
                         max_wrong_attempts=settings.ott_max_wrong_attempts)
    usage = MetadataUsage(runtime.internal("metadata", shared.metadata_url))
    mailer = mailer_from(settings)
    plans = Plans(runtime.db, default_storage=shared.default_quota_bytes)
    email_mfa = EmailMfa(runtime.db)
    return EnteAuth(
        email=EmailSignIn(accounts, codes, mailer, auth.limiter, code_ttl_seconds=settings.ott_ttl_seconds),
        srp=SrpSignIn(accounts, auth.limiter, secret_key=shared.secret_key,
                      session_ttl_seconds=settings.srp_session_ttl_seconds),
        key_attributes=KeyAttributes(accounts),
        details=Details(accounts, usage, plans),
        email_mfa=email_mfa,
        admin=EnteAdmin(runtime.db, users, plans, email_mfa, mailer,
                        max_signin_age_seconds=settings.admin_signin_max_age_seconds),
    )
