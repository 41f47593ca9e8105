"""Retry policy, signatures and the SSRF guard (pure parts of the webhooks)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.webhooks import signing
from bridge.webhooks.guard import allowed, url_problem
from bridge.webhooks.policy import Backoff, decide, retry_after_seconds

BACKOFF = Backoff(1.0, 300.0, 15)
NOW = 1_800_000_000.0


@pytest.mark.parametrize(("status", "outcome"), [
    (200, "delivered"), (204, "delivered"), (410, "gone"), (404, "failed"), (400, "failed"),
    (301, "failed"), (302, "failed"), (429, "retry"), (500, "retry"), (503, "retry"),
    (None, "retry"),
])
def test_outcome_of_each_answer(status: int | None, outcome: str) -> None:
    """2xx done, 410 gone, other 4xx and redirects final, 429/5xx/errors retried."""
    assert decide(1, status, None, BACKOFF, now=NOW, rand=1.0).outcome == outcome


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    """1, 2, 4, 8 s ... at most 300 s; jitter keeps each between half and all of it."""
    full = [decide(n, 500, None, BACKOFF, now=NOW, rand=1.0).delay for n in range(1, 12)]
    assert full[:4] == [1.0, 2.0, 4.0, 8.0]
    assert max(full) == 300.0
    assert decide(3, 500, None, BACKOFF, now=NOW, rand=0.0).delay == 2.0


def test_gives_up_after_max_attempts() -> None:
    """The 15th failure is final."""
    assert decide(15, 503, None, BACKOFF, now=NOW).outcome == "failed"


def test_retry_after_seconds_and_dates() -> None:
    """Retry-After as seconds or an HTTP date, capped at an hour, wins over a shorter backoff."""
    assert decide(1, 429, "30", BACKOFF, now=NOW, rand=1.0).delay == 30.0
    assert retry_after_seconds("99999", NOW) == 3600.0
    assert retry_after_seconds("Fri, 15 Jan 2027 08:00:10 GMT", 1800000000.0) == 10.0
    assert retry_after_seconds("soon", NOW) is None


def test_signature_verifies_and_detects_tampering() -> None:
    """A receiver recomputes the HMAC over id.timestamp.payload with the shared secret."""
    headers = signing.headers("s3cret", "msg_1", 1800000000, "CallID=a&CallFlow=IN")
    sig = headers["webhook-signature"]
    assert sig.startswith("v1,")
    assert signing.verify("s3cret", "msg_1", "1800000000", "CallID=a&CallFlow=IN", sig)
    assert not signing.verify("s3cret", "msg_1", "1800000000", "CallID=b&CallFlow=IN", sig)
    assert not signing.verify("other", "msg_1", "1800000000", "CallID=a&CallFlow=IN", sig)
    assert "webhook-signature" not in signing.headers(None, "msg_1", 1, "x")


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook", "http://localhost:8080/x", "http://10.1.2.3/x",
    "http://192.168.0.10/x", "http://172.20.0.1/x", "http://169.254.169.254/latest",
    "http://100.64.0.1/x", "http://[::1]/x", "http://[fd00::1]/x", "http://[fe80::1]/x",
    "http://[::ffff:127.0.0.1]/x", "http://0.0.0.0/x", "ftp://example.com/x", "example.com/x",
    "http:///x", "http://user:pw@example.com/x",
])
def test_refused_urls(url: str) -> None:
    """Loopback, private, link-local, CGNAT, ULA, IPv4-mapped, non-http: refused."""
    assert url_problem(url, ()) is not None


def test_public_and_allow_listed_urls() -> None:
    """Public addresses and names pass; an allow-listed network passes too."""
    assert url_problem("https://hooks.example.com/x?a=1", ()) is None
    assert url_problem("http://93.184.216.34/x", ()) is None
    assert url_problem("http://127.0.0.1:9000/x", (ipaddress.ip_network("127.0.0.0/8"),)) is None


@given(st.ip_addresses())
def test_guard_agrees_with_python_on_private_and_loopback(address: object) -> None:
    """Whatever Python calls private, loopback, link-local or multicast is refused."""
    assert isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address)
    if address.is_loopback or address.is_private or address.is_link_local or \
            address.is_multicast or address.is_unspecified:
        assert not allowed(address, ())
