"""Rate limits on signing in: backoff per account and address, looser per account, kept in the database,
429 with Retry-After, answers that never tell whether an account exists, and nobody locked out by someone
else's failures (issue 9: a bystander behind the attacker's address, the owner at another address)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shoebox.testing import ADMIN_EMAIL, ADMIN_PASSWORD, RunningSystem
from shoebox_auth.app import MIGRATIONS
from shoebox_auth.ratelimit import (
    DEFAULT_POLICIES,
    Action,
    Attempt,
    Key,
    Policy,
    RateLimited,
    RateLimiter,
    Scope,
    address_key,
)
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
    Scope.PAIR: Policy(free_failures=3, base_seconds=2, max_seconds=10, forget_after_seconds=60),
    Scope.ACCOUNT: Policy(free_failures=6, base_seconds=2, max_seconds=10, forget_after_seconds=60),
    Scope.ADDRESS: Policy(free_failures=6, base_seconds=2, max_seconds=10, forget_after_seconds=60),
}


def test_the_delay_doubles_after_the_free_failures_up_to_a_cap() -> None:
    policy = POLICIES[Scope.PAIR]
    assert [policy.delay(n) for n in range(1, 9)] == [0, 0, 0, 2, 4, 8, 10, 10]
    assert DEFAULT_POLICIES[Scope.ACCOUNT].free_failures > DEFAULT_POLICIES[Scope.PAIR].free_failures
    assert DEFAULT_POLICIES[Scope.ADDRESS].free_failures > DEFAULT_POLICIES[Scope.PAIR].free_failures


def test_keys_compare_accounts_case_insensitively_and_skip_what_is_unknown() -> None:
    attempt = Attempt(Action.LOGIN, account=" Bob@Example.com ", address="10.0.0.1")
    assert attempt.keys() == [Key(Action.LOGIN, Scope.PAIR, "bob@example.com\x0010.0.0.1"),
                              Key(Action.LOGIN, Scope.ACCOUNT, "bob@example.com")]
    # Checking a password never counts against the address alone; mailing a code does.
    assert Attempt(Action.OTT_SEND, account="a@b.c", address="10.0.0.1").key(Scope.ADDRESS) is not None
    assert Attempt(Action.LOGIN, account="", address=None).keys() == []
    assert Key(Action.LOGIN, Scope.ACCOUNT, "a").digest != Key(Action.OTT, Scope.ACCOUNT, "a").digest
    assert len(Key(Action.LOGIN, Scope.ACCOUNT, "a" * 500).digest) == 64


def test_an_ipv6_client_is_counted_by_its_64_block() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("192.0.2.7") == "192.0.2.7"


async def test_backoff_blocks_then_lifts_and_a_success_starts_again(db: Database) -> None:
    clock = Clock()
    limiter = RateLimiter(db, POLICIES, clock)
    attempt = Attempt(Action.LOGIN, account="someone@example.com", address="192.0.2.7")
    for _ in range(3):
        await limiter.check(attempt)
        await limiter.fail(attempt)
    await limiter.check(attempt)  # three failures are free
    await limiter.fail(attempt)
    with pytest.raises(RateLimited) as blocked:
        await limiter.check(attempt)
    assert blocked.value.status_code == 429
    assert blocked.value.headers == {"Retry-After": "2"}

    clock.advance(2.5)
    await limiter.check(attempt)  # the wait is over
    await limiter.fail(attempt)
    with pytest.raises(RateLimited) as longer:
        await limiter.check(attempt)
    assert longer.value.retry_after == 4  # and each further failure doubles it

    await limiter.succeed(attempt)
    await limiter.check(attempt)
    assert not await limiter.is_limited(attempt)


async def test_failures_are_forgotten_after_a_quiet_while(db: Database) -> None:
    clock = Clock()
    limiter = RateLimiter(db, POLICIES, clock)
    attempt = Attempt(Action.OTT, account="quiet@example.com", address="192.0.2.8")
    for _ in range(3):
        await limiter.fail(attempt)
    clock.advance(61)
    await limiter.fail(attempt)  # counted as the first again
    await limiter.check(attempt)


async def test_the_count_is_shared_by_every_replica(db: Database) -> None:
    """Two limiters on one database are two replicas: what one counts, the other enforces."""
    clock = Clock()
    first, second = RateLimiter(db, POLICIES, clock), RateLimiter(db, POLICIES, clock)
    attempt = Attempt(Action.SRP, account="shared", address="192.0.2.9")
    for replica in (first, second, first, second):
        await replica.fail(attempt)
    with pytest.raises(RateLimited):
        await second.check(attempt)
    with pytest.raises(RateLimited):
        await first.check(attempt)


async def test_failures_on_many_accounts_from_one_address_lock_out_no_bystander(db: Database) -> None:
    """Issue 9: 20 failures from one address used to lock out every account behind it."""
    limiter = RateLimiter(db, POLICIES, Clock())
    for n in range(30):  # 30 different accounts, one address
        await limiter.fail(Attempt(Action.LOGIN, account=f"user{n}@example.com", address="198.51.100.1"))
    await limiter.check(Attempt(Action.LOGIN, account="bystander@example.com", address="198.51.100.1"))


async def test_an_attacker_cannot_lock_the_owner_out_from_another_address(db: Database) -> None:
    clock = Clock()
    limiter = RateLimiter(db, POLICIES, clock)
    attacker = Attempt(Action.LOGIN, account="victim@example.com", address="203.0.113.66")
    for _ in range(12):  # past both the pair's and the account's allowance
        await limiter.fail(attacker)
    with pytest.raises(RateLimited):
        await limiter.check(attacker)  # the attacker is slowed down …
    owner = Attempt(Action.LOGIN, account="victim@example.com", address="192.0.2.50")
    await limiter.check(owner)  # … the owner at an address of their own is not


async def test_a_hot_account_gives_each_new_address_one_guess(db: Database) -> None:
    """Guesses spread over many addresses: once the account is over its allowance, an address that has
    failed on it waits, so each new address of a botnet gets a single try."""
    limiter = RateLimiter(db, POLICIES, Clock())
    for n in range(7):  # seven addresses, one failure each: the account is past its six free failures
        await limiter.fail(Attempt(Action.LOGIN, account="target@example.com", address=f"203.0.113.{n}"))
    fresh = Attempt(Action.LOGIN, account="target@example.com", address="203.0.113.200")
    await limiter.check(fresh)  # its first guess
    await limiter.fail(fresh)
    with pytest.raises(RateLimited):
        await limiter.check(fresh)  # and no second
    with pytest.raises(RateLimited):
        await limiter.check(Attempt(Action.LOGIN, account="target@example.com", address="203.0.113.0"))


async def test_an_unknown_address_is_held_to_the_account_limit(db: Database) -> None:
    limiter = RateLimiter(db, POLICIES, Clock())
    nowhere = Attempt(Action.LOGIN, account="someone@example.com", address=None)
    for _ in range(7):
        await limiter.fail(nowhere)
    with pytest.raises(RateLimited):
        await limiter.check(nowhere)


async def test_mailing_codes_is_limited_per_address_across_accounts(db: Database) -> None:
    """Each code mailed costs a mail whoever asks: an address has a budget of its own there."""
    limiter = RateLimiter(db, POLICIES, Clock())
    for n in range(7):
        await limiter.fail(Attempt(Action.OTT_SEND, account=f"user{n}@example.com", address="198.51.100.1"))
    with pytest.raises(RateLimited):
        await limiter.check(Attempt(Action.OTT_SEND, account="fresh@example.com", address="198.51.100.1"))
    await limiter.check(Attempt(Action.OTT_SEND, account="fresh@example.com", address="198.51.100.2"))
    await limiter.check(Attempt(Action.LOGIN, account="fresh@example.com", address="198.51.100.1"))


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


async def test_a_bystander_behind_the_attackers_address_still_signs_in(api: RunningSystem) -> None:
    """Issue 9: 25 failed sign-ins on other accounts from this address used to lock out everyone on it."""
    for n in range(25):
        assert (await login(api, f"someone{n}@example.com", "wrong-password"))[0] == 401
    status, answer = await login(api, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert status == 200, answer
    assert (await login(api, ADMIN_EMAIL, ADMIN_PASSWORD, "/users/login"))[0] == 200


async def spoofing(api: RunningSystem, forwarded_for: Callable[[int], str]) -> list[int]:
    statuses = []
    for n in range(8):
        response = await api.client.post("/auth/token", data={"username": ADMIN_EMAIL, "password": "wrong"},
                                         headers={"X-Forwarded-For": forwarded_for(n)})
        statuses.append(response.status_code)
    return statuses


@pytest.fixture
def proxies_as_deployed(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """The server as the deployment should run it: uvicorn does not rewrite the client's address itself
    (FORWARDED_ALLOW_IPS unset in a container, where the gateway is not loopback; emptied here, where the
    test client is), and auth trusts the proxies SHOEBOX_AUTH_TRUSTED_PROXIES names."""
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "")

    def trust(proxies: str) -> None:
        monkeypatch.setenv("SHOEBOX_AUTH_TRUSTED_PROXIES", proxies)

    return trust


async def test_a_new_x_forwarded_for_does_not_reset_the_limit(
        system_settings: Callable[..., Settings], proxies_as_deployed: Callable[[str], None]) -> None:
    """Issue 9: each new X-Forwarded-For value used to start the count again. With no trusted proxy (the
    default) the header is not believed at all."""
    from shoebox.testing import run_system

    async with run_system(system_settings()) as api:
        statuses = await spoofing(api, lambda n: f"203.0.113.{n}")
        assert statuses == [401] * 6 + [429] * 2
        assert api.services["auth"].app.state.container.proxies.networks == ()


async def test_behind_a_trusted_proxy_the_client_is_the_first_untrusted_hop_from_the_right(
        system_settings: Callable[..., Settings], proxies_as_deployed: Callable[[str], None]) -> None:
    """The gateway (here: the test client, on loopback) appends the address it saw; what the client wrote
    before it is not believed, so a new value each time changes nothing. And each client behind the
    gateway is counted as itself, not as the gateway: another client is not held back."""
    from shoebox.testing import run_system

    proxies_as_deployed("127.0.0.1, 10.0.0.0/8")
    async with run_system(system_settings()) as api:
        statuses = await spoofing(api, lambda n: f"203.0.113.{n}, 198.51.100.7, 10.1.2.3")
        assert statuses == [401] * 6 + [429] * 2
        # The address the gateway saw is the client's: another one is another client, not held back.
        other = await api.client.post("/auth/token", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
                                      headers={"X-Forwarded-For": "198.51.100.8"})
        assert other.status_code == 200, other.text
        sessions = await api.client.get("/users/sessions", headers={
            "Authorization": f"Bearer {other.json()['access_token']}"})
        assert [s["ip"] for s in sessions.json()["sessions"]] == ["198.51.100.8"]
