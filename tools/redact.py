"""PII redaction: emails, phone numbers, IP addresses, payment cards and mobile ad ids.

Everything that may reach an LLM, a log body or a span attribute in the store goes
through :func:`redact` (one string) or :func:`redact_value` (any JSON-like value). Matches
become typed placeholders (``<email>``, ``<phone>``, ``<ip>``, ``<card>``, ``<ad_id>``) so
the text still reads ("sync failed for <email>") without carrying the personal datum.

The rules lean towards precision on the shapes telemetry is full of: plain integers,
epoch timestamps, ISO dates, run UUIDs and version strings are left alone, because a
redactor that eats ids makes logs useless for investigation. Ad ids (IDFA / GAID) are
UUID-shaped, so they are redacted only where a key or the nearby text names them.
"""

from __future__ import annotations

import re
from typing import Any

EMAIL = "<email>"
PHONE = "<phone>"
IP = "<ip>"
CARD = "<card>"
AD_ID = "<ad_id>"

_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
# Starting only where a local part can start keeps the scan linear in the text's length.
_EMAIL_RE = re.compile(
    rf"(?<![A-Za-z0-9!#$%&'*+/=?^_`{{|}}~-]){_LOCAL}+(?:\.{_LOCAL}+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
)

_UUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_UUID_RE = re.compile(rf"(?<![\w-]){_UUID}(?![\w-])")
# A UUID right after a word that names an advertising id ("idfa=...", "GAID: ...",
# "advertising id is ..."); the name stays, the id goes.
_AD_CONTEXT_RE = re.compile(
    r"(?P<ctx>(?:idfa|gaid|adid|aaid|advertising[\s_.-]*id(?:entifier)?|(?<![a-z])ad[\s_.-]?id"
    r"|device\.ad[\w.]*)\W{1,5}(?:is\W{1,3})?)"
    rf"(?P<id>{_UUID})(?![\w-])",
    re.IGNORECASE,
)
# Attribute keys such as ``device.idfa``, ``gaid``, ``mobile.adId``, ``advertising_id``.
_AD_KEY_RE = re.compile(
    r"idfa|gaid|adid|aaid|advertising|device\.ad|(?:^|[\s._-])ad[\s._-]?id(?:$|[\s._-])",
    re.IGNORECASE,
)

# A run of 13+ digits with optional single spaces or dashes between them; which part of
# it is a card is decided by the Luhn check in _card. Leading digits 2-6 are the card
# networks (Mastercard, Amex/Diners/JCB, Visa, Mastercard, Discover/UnionPay/Maestro);
# excluding 1 keeps epoch timestamps in s/ms/us/ns (all "1..." until 2033) intact.
_CARD_RE = re.compile(r"(?<![\w.+-])[2-6](?:[ -]?\d){12,}(?![\w-]|\.\d)")
_SEP_RE = re.compile(r"[ -]")

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_IPV4_RE = re.compile(rf"(?<![\w.]){_IPV4}(?![\w]|\.\d)")
_H = r"[0-9A-Fa-f]{1,4}"
_IPV6 = (
    r"(?:"
    rf"(?:{_H}:){{7}}{_H}"
    rf"|(?:{_H}:){{6}}{_IPV4}"
    rf"|(?:{_H}:){{1,7}}:(?:{_IPV4})?"
    rf"|(?:{_H}:){{1,6}}:{_H}"
    rf"|(?:{_H}:){{1,5}}(?::{_H}){{1,2}}"
    rf"|(?:{_H}:){{1,4}}(?::{_H}){{1,3}}"
    rf"|(?:{_H}:){{1,3}}(?::{_H}){{1,4}}"
    rf"|(?:{_H}:){{1,2}}(?::{_H}){{1,5}}"
    rf"|{_H}:(?::{_H}){{1,6}}"
    rf"|::(?:ffff(?::0{{1,4}})?:)?{_IPV4}"
    rf"|:(?::{_H}){{1,7}}"
    r")"
)
# Longer alternatives first, and no word character or colon on either side, so clock
# times ("12:30:45"), MACs and "std::vector" are not mistaken for addresses.
_IPV6_RE = re.compile(rf"(?<![\w:]){_IPV6}(?![\w:])")

# International: "+" and a country code, then digits with single separators; the digit
# count (8-15, E.164) is checked in _phone. US/NANP: 3-3-4 digits with separators or a
# parenthesised area code, area and exchange codes starting with 2-9.
_INTL_PHONE_RE = re.compile(r"(?<![\w+])\+[1-9](?:[\s.-]?\(?\d{1,4}\)?){2,8}(?!\w)")
_US_PHONE_RE = re.compile(
    r"(?<![\w+-])(?:\+?1[\s.-]?)?(?:\([2-9]\d\d\)\s?|[2-9]\d\d[\s.-])[2-9]\d\d[\s.-]\d{4}(?![\w-])"
)
_DIGITS_RE = re.compile(r"\d")


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a digit string (as every payment card number carries)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i & 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = _SEP_RE.sub("", text)
    if len(digits) <= 19 and luhn_ok(digits):
        return CARD
    # The run may be a card followed or preceded by other numbers ("4111 1111 1111 1111
    # 12"); try each contiguous range of its groups, longest first.
    groups = _SEP_RE.split(text)
    if len(groups) == 1:
        return text
    n = len(groups)
    for size in range(n - 1, 0, -1):
        for start in range(n - size + 1):
            candidate = "".join(groups[start : start + size])
            if 13 <= len(candidate) <= 19 and candidate[0] in "23456" and luhn_ok(candidate):
                seps = _SEP_RE.findall(text)
                before = "".join(g + s for g, s in zip(groups[:start], seps, strict=False))
                after = "".join(
                    s + g
                    for s, g in zip(seps[start + size - 1 :], groups[start + size :], strict=False)
                )
                return before + CARD + after
    return text


def _ipv6(match: re.Match[str]) -> str:
    text = match.group(0)
    # "a::b" and "cafe::beef" are valid addresses but far likelier to be code ("Foo::bar"
    # was excluded by the boundaries; short hex words are not): demand a digit.
    if "::" in text and _DIGITS_RE.search(text) is None:
        return text
    return IP


def _intl_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    end = len(text)
    # The match may have run on into a following number ("+44 20 7946 0958 12"): drop
    # trailing space-separated groups until what is left can be an E.164 number.
    while end > 0:
        count = len(_DIGITS_RE.findall(text, 0, end))
        if count < 8:
            return text
        if count <= 15:
            return PHONE + text[end:]
        cut = text.rfind(" ", 0, end)
        if cut <= 0:
            return text
        end = cut
    return text


def redact(text: str) -> str:
    """``text`` with every email, phone, IP, card number and named ad id replaced."""
    if "@" in text:
        text = _EMAIL_RE.sub(EMAIL, text)
    if "-" in text and _UUID_RE.search(text) is not None:
        text = _AD_CONTEXT_RE.sub(lambda m: m.group("ctx") + AD_ID, text)
    if "::" in text or text.count(":") >= 7:
        text = _IPV6_RE.sub(_ipv6, text)
    if _DIGITS_RE.search(text) is None:
        return text
    text = _CARD_RE.sub(_card, text)
    if "." in text:
        text = _IPV4_RE.sub(IP, text)
    if "+" in text:
        text = _INTL_PHONE_RE.sub(_intl_phone, text)
    return _US_PHONE_RE.sub(PHONE, text)


def is_ad_id_key(key: str) -> bool:
    """Does an attribute key name a mobile advertising id (IDFA, GAID, ...)?"""
    return _AD_KEY_RE.search(key) is not None


def redact_value(value: Any, key: str | None = None) -> Any:
    """``value`` with every string in it redacted; dicts and lists are rebuilt, not mutated.

    ``key`` is the attribute or field name the value sits under: under a key that names an
    advertising id, UUID-shaped strings are redacted too. Dict keys are redacted as well
    (a map keyed by email is still personal data) and passed down as the context.
    """
    if isinstance(value, str):
        if key is not None and is_ad_id_key(key):
            value = _UUID_RE.sub(AD_ID, value)
        return redact(value)
    if isinstance(value, dict):
        return {
            (redact(k) if isinstance(k, str) else k): redact_value(
                v, k if isinstance(k, str) else key
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(v, key) for v in value]
    return value


__all__ = [
    "AD_ID",
    "CARD",
    "EMAIL",
    "IP",
    "PHONE",
    "is_ad_id_key",
    "luhn_ok",
    "redact",
    "redact_value",
]
