"""Retry policy, signatures and the SSRF guard (pure parts of the webhooks)."""

from __future__ import annotations

import base64
import ipaddress
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from bridge.webhooks import signing
from bridge.webhooks.guard import allowed, normalize, url_problem
from bridge.webhooks.policy import Attempt, Backoff, decide, judge, retry_after_seconds

BACKOFF = Backoff(1.0, 300.0, 15)
NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "delivered"),
        (204, "delivered"),
        (410, "gone"),
        (404, "failed"),
        (400, "failed"),
        (301, "failed"),
        (302, "failed"),
        (429, "retry"),
        (500, "retry"),
        (503, "retry"),
        (None, "retry"),
    ],
)
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


def test_an_attempt_is_stored_with_its_error_or_refusal() -> None:
    """An answer has no error; no answer stores its error; a refusal `refused: <why>`."""
    assert Attempt(200).problem is None
    assert Attempt(error="ClientConnectorError: down").problem == "ClientConnectorError: down"
    assert Attempt(refused="host is loopback").problem == "refused: host is loopback"


def test_a_refused_attempt_fails_at_once_whatever_its_text() -> None:
    """A refusal is final at the first attempt; an error is retried even when its text reads
    like a refusal (the outcome is typed, not a string prefix); an answer as `decide` says."""
    assert judge(1, Attempt(refused="no valid whsec_ secret"), BACKOFF, now=NOW).outcome == (
        "failed"
    )
    lookalike = Attempt(error="refused: by the peer")
    assert judge(1, lookalike, BACKOFF, now=NOW, rand=1.0) == decide(
        1, None, None, BACKOFF, now=NOW, rand=1.0
    )
    assert judge(1, lookalike, BACKOFF, now=NOW).outcome == "retry"
    assert judge(1, Attempt(410), BACKOFF, now=NOW).outcome == "gone"
    assert judge(1, Attempt(429, "30"), BACKOFF, now=NOW, rand=1.0).delay == 30.0


def test_retry_after_seconds_and_dates() -> None:
    """Retry-After as seconds or an HTTP date, capped at an hour, wins over a shorter backoff."""
    assert decide(1, 429, "30", BACKOFF, now=NOW, rand=1.0).delay == 30.0
    assert retry_after_seconds("99999", NOW) == 3600.0
    assert retry_after_seconds("Fri, 15 Jan 2027 08:00:10 GMT", 1800000000.0) == 10.0
    assert retry_after_seconds("soon", NOW) is None


def test_signature_verifies_with_the_reference_library() -> None:
    """standardwebhooks.Webhook verifies what we sign, and refuses a changed payload."""
    secret = signing.new_secret()
    now = int(time.time())
    headers = signing.headers(secret, "msg_1", now, "CallID=a&CallFlow=IN")
    assert headers["webhook-signature"].startswith("v1,")
    Webhook(secret).verify("CallID=a&CallFlow=IN", headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify("CallID=b&CallFlow=IN", headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify("CallID=a&CallFlow=IN", headers, json_parse=False)


def test_new_secrets_are_whsec_with_24_random_bytes() -> None:
    """Each secret is whsec_ + base64 of 24 bytes, and no two are alike."""
    made = {signing.new_secret() for _ in range(50)}
    assert len(made) == 50
    for secret in made:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret[6:], validate=True)) == 24


@pytest.mark.parametrize(
    "secret",
    [
        "s3cret-that-is-long-enough-0123456789",  # no whsec_ prefix
        "whsec_" + base64.b64encode(b"x" * 23).decode(),  # too short a key
        "whsec_not base64!",
    ],
)
def test_secrets_in_another_form_are_refused(secret: str) -> None:
    """Only whsec_ + base64 of 24+ bytes is a secret (what the reference library decodes)."""
    with pytest.raises(ValueError, match=r"whsec_|bytes|base64"):
        signing.key(secret)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/x",
        "http://10.1.2.3/x",
        "http://192.168.0.10/x",
        "http://172.20.0.1/x",
        "http://169.254.169.254/latest",
        "http://100.64.0.1/x",
        "http://[::1]/x",
        "http://[fd00::1]/x",
        "http://[fe80::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://0.0.0.0/x",
        "ftp://example.com/x",
        "example.com/x",
        "http:///x",
        "http://user:pw@example.com/x",
        "http://localhost./x",
        "http://a.localhost/x",
    ],
)
def test_refused_urls(url: str) -> None:
    """Loopback, private, link-local, CGNAT, ULA, IPv4-mapped, non-http: refused."""
    assert url_problem(url, ()) is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/x",
        "http://0x7f000001/x",
        "http://017700000001/x",
        "http://127.1/x",
        "http://0/x",
        "http://0x5d.184.216.34/x",
        "http://93.184.216.034/x",
        "http://1.2.3/x",
        "http://93.184.216.34./x",
        "http://hooks.0x10/x",
        "http://[::ffff:127.1]/x",
    ],
)
def test_numeric_host_spellings_are_refused_wherever_they_point(url: str) -> None:
    """Any numeric host that is not a canonical dotted quad is refused, even if public."""
    allow_all = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
    problem = url_problem(url, allow_all)
    assert problem is not None
    assert "numeric" in problem or "IPv6" in problem


@pytest.mark.parametrize(
    ("url", "bad"),
    [
        ("http://hooks.example.com/a b", " "),
        (" https://hooks.example.com/x", " "),
        ("https://hooks.example.com/x\n", "\n"),
        ("https://hooks.example.com/\x00", "\x00"),
        ("https://hooks.example.com/\t", "\t"),
        ("https://ho\u200boks.com/", "\u200b"),
        ("https://hooks.example.com/x\u00a0", "\u00a0"),
        ("https://hooks.example.com/?a=\x7f", "\x7f"),
    ],
)
def test_whitespace_and_control_characters_are_refused(url: str, bad: str) -> None:
    """A URL with whitespace or a control character anywhere is refused, naming it."""
    assert url_problem(url, ()) == (f"must not contain whitespace or control characters ({bad!r})")


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("HTTPS://Hooks.Example.COM:443/Path?a=1#frag", "https://hooks.example.com/Path?a=1"),
        ("http://hooks.example.com:80/x", "http://hooks.example.com/x"),
        ("http://hooks.example.com:8080/x", "http://hooks.example.com:8080/x"),
        ("https://BÜCHER.de/x", "https://xn--bcher-kva.de/x"),
        ("https://hooks.example.com/%7euser", "https://hooks.example.com/~user"),
        ("http://93.184.216.34/x", "http://93.184.216.34/x"),
    ],
)
def test_urls_are_stored_normalized(url: str, stored: str) -> None:
    """Scheme and host lower-case, IDNA, default port and fragment dropped."""
    assert normalize(url) == stored


def test_public_and_allow_listed_urls() -> None:
    """Public addresses and names pass; an allow-listed network passes too."""
    assert url_problem("https://hooks.example.com/x?a=1", ()) is None
    assert url_problem("http://93.184.216.34/x", ()) is None
    assert url_problem("http://127.0.0.1:9000/x", (ipaddress.ip_network("127.0.0.0/8"),)) is None


@given(st.ip_addresses())
def test_guard_agrees_with_python_on_private_and_loopback(address: object) -> None:
    """Whatever Python calls private, loopback, link-local or multicast is refused."""
    assert isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address)
    if (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
    ):
        assert not allowed(address, ())
