"""Whose address a request is counted against (issue 9): X-Forwarded-For believed only as far as trusted
proxies wrote it, the first untrusted hop from the right."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shoebox_auth.addresses import TrustedProxies
from shoebox_auth.settings import AuthSettings

GATEWAY = TrustedProxies.parse("10.0.0.0/8, 127.0.0.1")


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    none = TrustedProxies.parse("")
    assert none.client("192.0.2.7", ["203.0.113.1"]) == "192.0.2.7"
    assert none.client("127.0.0.1", ["203.0.113.1"]) == "127.0.0.1"  # not even loopback is a proxy by default
    assert none.client(None, ["203.0.113.1"]) is None


def test_an_untrusted_connection_is_the_client_whatever_it_writes() -> None:
    assert GATEWAY.client("192.0.2.7", ["203.0.113.1, 10.0.0.5"]) == "192.0.2.7"


def test_the_first_untrusted_hop_from_the_right_is_the_client() -> None:
    # client wrote 203.0.113.1; the edge proxy saw 198.51.100.7; an inner proxy (10.1.2.3) passed it on.
    assert GATEWAY.client("10.0.0.2", ["203.0.113.1, 198.51.100.7, 10.1.2.3"]) == "198.51.100.7"
    # Several headers are one list, in order.
    assert GATEWAY.client("10.0.0.2", ["203.0.113.1", "198.51.100.7"]) == "198.51.100.7"
    assert GATEWAY.client("10.0.0.2", []) == "10.0.0.2"  # the proxy itself asked
    assert GATEWAY.client("10.0.0.2", ["10.0.0.3"]) == "10.0.0.3"  # proxies all the way: the farthest one


def test_garbage_where_a_proxy_would_write_an_address_stops_at_that_proxy() -> None:
    assert GATEWAY.client("10.0.0.2", ["unknown, 10.0.0.9"]) == "10.0.0.9"
    assert GATEWAY.client("10.0.0.2", ["198.51.100.7, "]) == "10.0.0.2"


def test_ports_brackets_and_mapped_addresses_are_read_as_proxies_write_them() -> None:
    assert GATEWAY.client("10.0.0.2", ["198.51.100.7:4711"]) == "198.51.100.7"
    assert GATEWAY.client("10.0.0.2", ["[2001:db8::1]:443"]) == "2001:db8::1"
    assert GATEWAY.client("::ffff:10.0.0.2", ["198.51.100.7"]) == "198.51.100.7"
    assert GATEWAY.client("unix:/run/shoebox.sock", ["198.51.100.7"]) == "unix:/run/shoebox.sock"


def test_the_setting_is_checked_when_auth_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOEBOX_AUTH_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1")
    assert len(AuthSettings().proxies.networks) == 2
    monkeypatch.setenv("SHOEBOX_AUTH_TRUSTED_PROXIES", "10.0.0.0/8, gateway")
    with pytest.raises(ValidationError):
        AuthSettings()
    monkeypatch.delenv("SHOEBOX_AUTH_TRUSTED_PROXIES")
    assert AuthSettings().proxies.networks == ()
