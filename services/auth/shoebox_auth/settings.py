"""Settings only the auth service reads (prefix `SHOEBOX_AUTH_`); the shared ones (database, secret, token
lifetime, public URL, …) are `shoebox_lib.settings.Settings` (prefix `SHOEBOX_`)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shoebox_auth.addresses import TrustedProxies


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOEBOX_AUTH_", extra="ignore")

    smtp_host: str | None = Field(
        default=None,
        description="Mail server that sends Ente sign-in codes. Default none: codes are written to the log, "
                    "enough for one person running `shoebox dev`.")
    smtp_port: int = Field(
        default=587, ge=1, le=65535,
        description="Port of the mail server (default 587): 465 means implicit TLS, any other STARTTLS whenever "
                    "the server offers it.")
    smtp_username: str | None = Field(default=None, description="Login at the mail server; default none.")
    smtp_password: str | None = Field(default=None, description="Password at the mail server; default none.")
    smtp_from: str = Field(default="Shoebox <no-reply@shoebox.local>",
                           description="Sender of the mails auth sends (default `Shoebox <no-reply@shoebox.local>`).")
    smtp_timeout_seconds: float = Field(default=10.0, gt=0,
                                        description="Seconds to wait on the mail server (default 10).")

    ott_ttl_seconds: int = Field(default=600, ge=30,
                                 description="How long a code mailed for Ente sign-in is valid, in seconds "
                                             "(default 600, ten minutes).")
    ott_max_wrong_attempts: int = Field(default=5, ge=1,
                                        description="Wrong codes after which every active code of the address is "
                                                    "burnt (default 5).")
    srp_session_ttl_seconds: int = Field(default=300, ge=10,
                                         description="How long an Ente SRP sign-in exchange stays open, in seconds "
                                                     "(default 300).")

    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or networks (CIDR) of the proxies in front of auth whose "
                    "X-Forwarded-For is believed, e.g. the gateway's `172.20.0.0/16`. The client is then the first "
                    "address, from the right of X-Forwarded-For and the connection's, that is not one of them. "
                    "Default none: the connection's own address is the client's and X-Forwarded-For is ignored, "
                    "so a client can never choose the address its sign-in attempts are counted against. "
                    "uvicorn's own FORWARDED_ALLOW_IPS must never be `*` (uvicorn then rewrites the connection's "
                    "address to whatever the client wrote, before auth sees it): leave it unset, or give it the "
                    "same proxies.")
    admin_signin_max_age_seconds: int = Field(
        default=600, ge=0,
        description="Ente's admin routes that list, delete or unlock users take only the token of a sign-in at "
                    "most this many seconds old (default 600, as Ente's server); 0 turns the check off.")

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: str) -> str:
        TrustedProxies.parse(value)  # refused at start, not at the first sign-in
        return value

    @property
    def proxies(self) -> TrustedProxies:
        return TrustedProxies.parse(self.trusted_proxies)


# What `shoebox config` reads from every `shoebox_<service>.settings`.
SETTINGS_CLASS = AuthSettings
