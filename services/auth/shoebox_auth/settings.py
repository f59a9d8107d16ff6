"""Settings only the auth service reads (prefix `SHOEBOX_AUTH_`); the shared ones (database, secret, token
lifetime, public URL, …) are `shoebox_lib.settings.Settings` (prefix `SHOEBOX_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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


# What `shoebox config` reads from every `shoebox_<service>.settings`.
SETTINGS_CLASS = AuthSettings
