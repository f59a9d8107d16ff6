"""Sending mail: by SMTP when a host is configured, otherwise into the log (one person on `shoebox dev`
reads their sign-in code there)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from shoebox_auth.settings import AuthSettings
from shoebox_lib.errors import UpstreamUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    sender: str | None = None  # `Name <address>`; the configured SHOEBOX_AUTH_SMTP_FROM when None


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None: ...


class LogMailer:
    """No SMTP configured: the message goes to the log, at WARNING so default log levels keep it."""

    async def send(self, mail: Mail) -> None:
        log.warning("mail to %s%s (no SMTP configured; set SHOEBOX_AUTH_SMTP_HOST to send it): %s\n%s",
                    mail.to, f" from {mail.sender}" if mail.sender else "", mail.subject, mail.body)


class SmtpMailer:
    """aiosmtplib: the event loop never waits on the mail server. STARTTLS whenever the server offers
    it; implicit TLS on port 465."""

    def __init__(self, settings: AuthSettings) -> None:
        if not settings.smtp_host:
            raise ValueError("SmtpMailer needs SHOEBOX_AUTH_SMTP_HOST")
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.username = settings.smtp_username
        self.password = settings.smtp_password
        self.sender = settings.smtp_from
        self.timeout = settings.smtp_timeout_seconds

    async def send(self, mail: Mail) -> None:
        message = EmailMessage()
        message["From"] = mail.sender or self.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message.set_content(mail.body)
        try:
            await aiosmtplib.send(
                message, hostname=self.host, port=self.port, username=self.username, password=self.password,
                use_tls=self.port == 465, timeout=self.timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.error("could not send mail through %s:%d: %s", self.host, self.port, exc)
            raise UpstreamUnavailable("The email could not be sent; try again later") from None


def mailer_from(settings: AuthSettings) -> Mailer:
    return SmtpMailer(settings) if settings.smtp_host else LogMailer()
