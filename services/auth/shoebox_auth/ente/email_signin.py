"""Signing up and in with a code mailed to the address (Ente's `/users/ott` and `/users/verify-email`)."""

from __future__ import annotations

from enum import StrEnum

from shoebox_auth.ente.accounts import Accounts, Authorization, normalize_email
from shoebox_auth.ente.mailer import Mail, Mailer
from shoebox_auth.ente.otts import IncorrectCode, OneTimeCodes, TooManyWrongCodes, new_code
from shoebox_auth.ratelimit import Action, Attempt, RateLimiter
from shoebox_auth.service import Origin


class CodePurpose(StrEnum):
    """What a client asks a code for. Stored as the client sent it; only sign-up changes what happens."""

    SIGNUP = "signup"
    LOGIN = "login"


class EmailSignIn:
    def __init__(self, accounts: Accounts, codes: OneTimeCodes, mailer: Mailer, limiter: RateLimiter,
                 *, code_ttl_seconds: int) -> None:
        self.accounts = accounts
        self.codes = codes
        self.mailer = mailer
        self.limiter = limiter
        self.code_ttl_seconds = code_ttl_seconds

    async def send_code(self, email: str, purpose: str, origin: Origin) -> None:
        """Mail a code. The caller learns nothing of the account: the answer is the same either way.

        Sign-up creates the account when the code comes back. Any other purpose (Ente's "login") for an
        address without an account mails its owner a note instead, and records a code nobody was sent,
        so a guess is refused exactly like a wrong code for an account that exists.
        """
        email = normalize_email(email)
        attempt = Attempt(Action.OTT_SEND, account=email, address=origin.ip)
        await self.limiter.check(attempt)
        await self.limiter.fail(attempt)  # every code mailed spends the allowance: mailboxes are not free
        if purpose == CodePurpose.SIGNUP or await self.accounts.find(email) is not None:
            code = await self.codes.issue(email, purpose)
            mail = Mail(to=email, subject=f"Shoebox verification code: {code}", body=(
                f"Your Shoebox verification code is {code}\n\n"
                f"It is valid for {self.code_ttl_seconds // 60} minutes. If you did not ask for it, "
                "ignore this message."))
        else:
            await self.codes.issue(email, purpose, code=new_code())
            mail = Mail(to=email, subject="Shoebox sign-in", body=(
                "Someone asked to sign in to Shoebox with this address, but there is no account for it.\n\n"
                "To create one, sign up instead. If it was not you, ignore this message."))
        await self.mailer.send(mail)

    async def verify_email(self, email: str, code: str, origin: Origin) -> Authorization:
        email = normalize_email(email)
        attempt = Attempt(Action.OTT, account=email, address=origin.ip)
        await self.limiter.check(attempt)
        try:
            redeemed = await self.codes.redeem(email, code)
        except (IncorrectCode, TooManyWrongCodes):
            await self.limiter.fail(attempt)
            raise
        await self.limiter.succeed(attempt)
        user = await self.accounts.verified(email, create=redeemed.purpose == CodePurpose.SIGNUP)
        if user is None:  # a code that was never mailed, guessed right
            raise IncorrectCode("Incorrect code")
        return await self.accounts.authorize(user, origin)
