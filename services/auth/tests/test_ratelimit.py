"""Rate limits on signing in: backoff per account and per address, kept in the database, 429 with
Retry-After, and answers that never tell whether an account exists."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shoebox.testing import ADMIN_EMAIL, ADMIN_PASSWORD, RunningSystem
from shoebox_auth.app import MIGRATIONS
from shoebox_auth.ratelimit import DEFAULT_POLICIES, Action, Key, Policy, RateLimited, RateLimiter, Scope, keys_for
from shoebox_lib.db import Database
from shoebox_lib.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def db(make_settings: Callable[..., Settings]) -> AsyncIterator[Database]:
    settings = make_settings()
    await MIGRATIONS.upgrade_async(settings.database_url)
    database = Database(settings.database_url)
    try:
        yield database
    finally:
        await database.close()


POLICIES: dict[Scope, Policy] = {
    Scope.ACCOUNT: Policy(free_failures=3, base_seconds=2, max_seconds=10, forget_after_seconds=60),
    Scope.ADDRESS: Policy(free_failures=6, base_seconds=2, max_seconds=10, forget_after_seconds=60),
}


def test_the_delay_doubles_after_the_free_failures_up_to_a_cap() -> None:
    policy = POLICIES[Scope.ACCOUNT]
    assert [policy.delay(n) for n in range(1, 9)] == [0, 0, 0, 2, 4, 8, 10, 10]
    assert DEFAULT_POLICIES[Scope.ADDRESS].free_failures > DEFAULT_POLICIES[Scope.ACCOUNT].free_failures


def test_keys_compare_accounts_case_insensitively_and_skip_what_is_unknown() -> None:
    assert keys_for(Action.LOGIN, account=" Bob@Example.com ", address="10.0.0.1") == [
        Key(Action.LOGIN, Scope.ACCOUNT, "bob@example.com"), Key(Action.LOGIN, Scope.ADDRESS, "10.0.0.1")]
    assert keys_for(Action.LOGIN, account="", address=None) == []
    assert Key(Action.LOGIN, Scope.ACCOUNT, "a").digest != Key(Action.OTT, Scope.ACCOUNT, "a").digest
    assert len(Key(Action.LOGIN, Scope.ACCOUNT, "a" * 500).digest) == 64


async def test_backoff_blocks_then_lifts_and_a_reset_starts_again(db: Database) -> None:
    clock = Clock()
    limiter = RateLimiter(db, POLICIES, clock)
    keys = keys_for(Action.LOGIN, account="someone@example.com", address="192.0.2.7")
    for _ in range(3):
        await limiter.check(keys)
        await limiter.fail(keys)
    await limiter.check(keys)  # three failures are free
    await limiter.fail(keys)
    with pytest.raises(RateLimited) as blocked:
        await limiter.check(keys)
    assert blocked.value.status_code == 429
    assert blocked.value.headers == {"Retry-After": "2"}

    clock.advance(2.5)
    await limiter.check(keys)  # the wait is over
    await limiter.fail(keys)
    with pytest.raises(RateLimited) as longer:
        await limiter.check(keys)
    assert longer.value.retry_after == 4  # and each further failure doubles it

    await limiter.reset([k for k in keys if k.scope is Scope.ACCOUNT])
    await limiter.check(keys)  # the address has failed 5 times: still under its own allowance
    assert not await limiter.is_limited(keys)


async def test_failures_are_forgotten_after_a_quiet_while(db: Database) -> None:
    clock = Clock()
    limiter = RateLimiter(db, POLICIES, clock)
    keys = [Key(Action.OTT, Scope.ACCOUNT, "quiet@example.com")]
    for _ in range(3):
        await limiter.fail(keys)
    clock.advance(61)
    await limiter.fail(keys)  # counted as the first again
    await limiter.check(keys)


async def test_the_count_is_shared_by_every_replica(db: Database) -> None:
    """Two limiters on one database are two replicas: what one counts, the other enforces."""
    clock = Clock()
    first, second = RateLimiter(db, POLICIES, clock), RateLimiter(db, POLICIES, clock)
    keys = [Key(Action.SRP, Scope.ACCOUNT, "shared")]
    for replica in (first, second, first, second):
        await replica.fail(keys)
    with pytest.raises(RateLimited):
        await second.check(keys)
    with pytest.raises(RateLimited):
        await first.check(keys)


async def test_an_address_is_limited_across_accounts(db: Database) -> None:
    clock = Clock()
    limiter = RateLimiter(db, POLICIES, clock)
    for n in range(7):  # 7 different accounts, one address
        await limiter.fail(keys_for(Action.LOGIN, account=f"user{n}@example.com", address="198.51.100.1"))
    with pytest.raises(RateLimited):
        await limiter.check(keys_for(Action.LOGIN, account="fresh@example.com", address="198.51.100.1"))
    await limiter.check(keys_for(Action.LOGIN, account="fresh@example.com", address="198.51.100.2"))


async def login(api: RunningSystem, username: str, password: str,
                path: str = "/auth/token") -> tuple[int, dict[str, Any]]:
    if path == "/auth/token":
        response = await api.client.post(path, data={"username": username, "password": password})
    else:
        response = await api.client.post(path, json={"email": username, "password": password})
    return response.status_code, {"retry_after": response.headers.get("retry-after"), "body": response.json()}


async def test_password_sign_in_backs_off_with_429_and_retry_after(api: RunningSystem) -> None:
    for _ in range(5):
        status, _ = await login(api, ADMIN_EMAIL, "wrong-password")
        assert status == 401
    status, _ = await login(api, ADMIN_EMAIL, "wrong-password")  # the sixth failure starts the wait
    assert status == 401
    status, answer = await login(api, ADMIN_EMAIL, ADMIN_PASSWORD)  # even the right password waits
    assert status == 429
    assert int(answer["retry_after"]) >= 1
    assert set(answer["body"]) >= {"detail"}  # the CL face's shape
    status, answer = await login(api, ADMIN_EMAIL, ADMIN_PASSWORD, "/users/login")  # seed 000's, Ente shape
    assert status == 429
    assert answer["body"]["code"] == "TOO_MANY_REQUESTS"
    assert answer["body"]["message"]
    assert int(answer["retry_after"]) >= 1


async def test_a_success_resets_the_account(api: RunningSystem) -> None:
    for _ in range(5):
        assert (await login(api, ADMIN_EMAIL, "wrong-password"))[0] == 401
    assert (await login(api, ADMIN_EMAIL, ADMIN_PASSWORD))[0] == 200
    for _ in range(5):
        assert (await login(api, ADMIN_EMAIL, "wrong-password"))[0] == 401
    assert (await login(api, ADMIN_EMAIL, ADMIN_PASSWORD))[0] == 200


async def test_an_unknown_account_is_limited_exactly_like_a_known_one(api: RunningSystem) -> None:
    answers = {}
    for name in (ADMIN_EMAIL, "nobody@example.com"):
        statuses = [(await login(api, name, "wrong-password"))[0] for _ in range(7)]
        answers[name] = statuses
    assert answers[ADMIN_EMAIL] == answers["nobody@example.com"] == [401] * 6 + [429]
