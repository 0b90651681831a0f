"""PII redaction: what is replaced, what telemetry ids are left alone, and properties."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.redact import is_ad_id_key, luhn_ok, redact, redact_value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("contact jane.doe+crm@example.co.uk now", "contact <email> now"),
        ("to: O'Brien.J@Mail.Example.COM.", "to: <email>."),
        ("call +44 20 7946 0958 today", "call <phone> today"),
        ("call +4915112345678", "call <phone>"),
        ("us (202) 555-0143 / 202-555-0143 / 202.555.0143", "us <phone> / <phone> / <phone>"),
        ("toll free 1-800-555-0199", "toll free <phone>"),
        ("from 192.168.1.20:8080 via 10.0.0.1.", "from <ip>:8080 via <ip>."),
        (
            "v6 2001:db8::ff00:42:8329 and ::1 and fe80::1ff:fe23:4567:890a",
            "v6 <ip> and <ip> and <ip>",
        ),
        ("mapped ::ffff:192.0.2.128", "mapped <ip>"),
        ("full 2001:0db8:85a3:0000:0000:8a2e:0370:7334", "full <ip>"),
        ("visa 4111 1111 1111 1111, mc 5555-5555-5555-4444", "visa <card>, mc <card>"),
        ("amex 378282246310005 ok", "amex <card> ok"),
        ("card 4111111111111111 x 12", "card <card> x 12"),
        ("card 4111 1111 1111 1111 12 items", "card <card> 12 items"),
        ("idfa=6D92078A-8246-4BA4-AE5B-76104861E7DC", "idfa=<ad_id>"),
        ('{"gaid": "38400000-8cf0-11bd-b23e-10b96e40000d"}', '{"gaid": "<ad_id>"}'),
        ("advertising id is 38400000-8cf0-11bd-b23e-10b96e40000d", "advertising id is <ad_id>"),
    ],
)
def test_redacts(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "42 rows in 17 ms",
        "run 123e4567-e89b-12d3-a456-426614174000 finished",
        "lead_id=38400000-8cf0-11bd-b23e-10b96e40000d",
        "on 2024-01-02 at 2024-01-02T12:30:45.123456+01:00",
        "epoch 1704153600, ms 1704153600123, ns 1704153600000000000",
        "4111 1111 1111 1112",  # fails Luhn
        "version 1.2.3 and 3.14159265358979323846",
        "std::vector<int> a::b at 12:30:45, MAC 00:1A:2B:3C:4D:5E",
        "error.code=429 INVALID_EMAIL dataset:snowflake://acme:analytics.orders",
        "+5% growth, offset +01:00",
        "",
    ],
)
def test_leaves_telemetry_alone(text: str) -> None:
    assert redact(text) == text


def test_redact_value_recurses_and_uses_keys() -> None:
    ad = "6D92078A-8246-4BA4-AE5B-76104861E7DC"
    run = "123e4567-e89b-12d3-a456-426614174000"
    value = {
        "device.idfa": ad,
        "mobileAdId": ad,
        "advertising_id": [ad],
        "run.id": run,
        "jane@example.com": 3,
        "nested": {
            "emails": ["a@b.io", "ok"],
            "count": 2,
            "ratio": 0.5,
            "flag": True,
            "none": None,
        },
        "tuple": ("10.0.0.1",),
    }
    assert redact_value(value) == {
        "device.idfa": "<ad_id>",
        "mobileAdId": "<ad_id>",
        "advertising_id": ["<ad_id>"],
        "run.id": run,
        "<email>": 3,
        "nested": {
            "emails": ["<email>", "ok"],
            "count": 2,
            "ratio": 0.5,
            "flag": True,
            "none": None,
        },
        "tuple": ["<ip>"],
    }
    assert redact_value(ad, key="gaid") == "<ad_id>"
    assert redact_value(ad) == ad
    assert value["device.idfa"] == ad  # the input is not mutated


@pytest.mark.parametrize(
    ("key", "named"),
    [
        ("device.idfa", True),
        ("GAID", True),
        ("google_adid", True),
        ("advertising.id", True),
        ("device.ad_id", True),
        ("ad-id", True),
        ("device.advertising_id", True),
        ("lead_id", False),
        ("run.id", False),
        ("user.id", False),
        ("ad_group", False),
    ],
)
def test_ad_id_keys(key: str, named: bool) -> None:
    assert is_ad_id_key(key) is named


def _with_check_digit(body: str) -> str:
    for d in "0123456789":
        if luhn_ok(body + d):
            return body + d
    raise AssertionError("unreachable: one check digit always fits")


cards = st.builds(
    lambda prefix, rest: _with_check_digit(prefix + rest),
    st.sampled_from(["4", "51", "55", "2221", "34", "37", "6011", "65"]),
    st.integers(min_value=12, max_value=17).flatmap(
        lambda n: st.text("0123456789", min_size=n, max_size=n)
    ),
).filter(lambda c: 13 <= len(c) <= 19)


def _grouped(number: str, sep: str) -> str:
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4)) if sep else number


words = st.text(max_size=20)
filler = st.lists(
    st.sampled_from(
        ["sync", "failed", "for", "user", "at", "12", ":", "—", "(", ")", "ok", "retry", "3"]
    ),
    max_size=4,
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(email=st.emails(), before=filler, after=filler)
def test_generated_emails_never_survive(email: str, before: str, after: str) -> None:
    out = redact(f"{before} {email} {after}")
    assert email not in out
    assert "<email>" in out


@settings(max_examples=300, deadline=None)
@given(card=cards, sep=st.sampled_from(["", " ", "-"]), before=filler, after=filler)
def test_generated_cards_never_survive(card: str, sep: str, before: str, after: str) -> None:
    shown = _grouped(card, sep)
    out = redact(f"{before} {shown} {after}")
    assert shown not in out
    assert card not in out.replace(" ", "").replace("-", "")


phones = st.one_of(
    st.builds(
        lambda a, e, n, fmt: fmt.format(a=a, e=e, n=n),
        st.integers(200, 999),
        st.integers(200, 999),
        st.integers(0, 9999).map(lambda n: f"{n:04d}"),
        st.sampled_from(
            ["({a}) {e}-{n}", "{a}-{e}-{n}", "{a}.{e}.{n}", "+1 {a} {e} {n}", "1-{a}-{e}-{n}"]
        ),
    ),
    st.builds(
        lambda cc, rest: f"+{cc} {rest}",
        st.integers(1, 998),
        st.text("0123456789", min_size=7, max_size=11),
    ),
)


@settings(max_examples=300, deadline=None)
@given(phone=phones, before=filler, after=filler)
def test_generated_phones_never_survive(phone: str, before: str, after: str) -> None:
    out = redact(f"{before} {phone} {after}")
    assert phone not in out


@settings(max_examples=200, deadline=None)
@given(octets=st.lists(st.integers(0, 255), min_size=4, max_size=4), port=st.integers(1, 65535))
def test_generated_ipv4_never_survive(octets: list[int], port: int) -> None:
    ip = ".".join(map(str, octets))
    assert ip not in redact(f"client {ip}:{port} connected")


@settings(max_examples=200, deadline=None)
@given(run=st.uuids(), n=st.integers(-(10**6), 10**6), day=st.dates(), text=words)
def test_ids_dates_and_numbers_survive(run: uuid.UUID, n: int, day: object, text: str) -> None:
    line = f"run {run} wrote {n} rows on {day}"
    assert redact(line) == line
    # Redaction is idempotent on anything, and never grows placeholders out of nothing.
    once = redact(text)
    assert redact(once) == once
