"""Personal data in a value: emails, phones, payment cards, IP addresses, IBANs.

:func:`find_pii` returns each match with its kind and span, in whole values and inside
free text; :func:`mask` replaces every match with ``[kind]``. False positives matter as
much as misses, so each detector checks more than a pattern:

- ``email``: ``local@domain.tld``.
- ``phone``: Google's libphonenumber rules (the ``phonenumbers`` package), valid numbers
  only; a bare run of digits (a product id, an epoch timestamp) is never a phone unless it
  starts with ``+``, and neither is a whole value that is an ISO 8601 date or timestamp.
- ``payment_card``: 13-19 digits (spaces or dashes allowed) with a card-network first digit
  (3-6) that pass the Luhn check.
- ``ip_address``: dotted-quad IPv4 with octets 0-255, or an IPv6 address.
- ``iban``: a country code, two check digits and 11-30 letters/digits passing mod-97.

Numbers (JSON ints and floats) are never checked: an epoch timestamp or a price is not a
phone or a card, and a real card number arrives as a string.

Examples
--------
>>> sorted(kind for kind, _, _ in find_pii("mail ana@example.com or +44 20 7946 0958"))
['email', 'phone']
>>> mask("card 4111 1111 1111 1111, ip 10.0.0.1")
'card [payment_card], ip [ip_address]'
>>> find_pii("1793491300000"), find_pii("p00042"), find_pii("4111111111111112")
([], [], [])
>>> find_pii("7e2e5914-4365-4749-8fd7-99967cb53589")
[]
"""

from __future__ import annotations

import ipaddress
import re

import phonenumbers
from phonenumbers import phonenumbermatcher

__all__ = ["PII_KINDS", "find_pii", "luhn_ok", "mask"]

#: Every kind :func:`find_pii` reports, in a fixed order.
PII_KINDS = ("email", "phone", "payment_card", "ip_address", "iban")

#: Text longer than this is checked only up to here (bounded time per value).
MAX_TEXT = 4096

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}")
_CARD = re.compile(r"(?<![\w-])[3-6]\d{3}(?:[ -]?\d){9,15}(?![\w-])")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
# Whole values no detector matches, recognised in one step (the commonest ids and times):
# a UUID (no "@", "." or ":", no capitals, and any card-like run is glued to a dash) and
# an ISO 8601 timestamp (digit runs too short for a card, no IP shape, not a phone).
_PLAIN = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|" + _TIMESTAMP.pattern
)
# 7 digits, at most 2 other characters between two of them (possessive: \d and \D are
# disjoint, so the same matches without backtracking).
_DIGITS7 = re.compile(r"\d(?:\D{0,2}+\d){6}")
_PHONE_REGIONS = ("US", "GB", "DE", "BR", "IN")
# libphonenumber's own candidate pattern (PhoneNumberMatcher searches text with it; every
# match it reports lies inside one of its candidates). None if a release renames it.
_PHONE_CANDIDATE: re.Pattern[str] | None = getattr(phonenumbermatcher, "_PATTERN", None)


def _phone_possible(text: str) -> bool:
    """Whether a phone match could survive :func:`_phones`' filters (a cheap pre-check).

    A kept phone is not glued to a letter, digit, ``-`` or ``_``. In a text made only of
    those characters (an id, a UUID, a SKU) the only unglued span is the whole text, so a
    phone is possible only where libphonenumber's candidate pattern, matched at the start,
    covers the whole text. Exact, and it spares the matcher (5 regions) most ids.
    """
    if _TIMESTAMP.fullmatch(text):
        return False  # an ISO 8601 date or timestamp is not a phone
    if _PHONE_CANDIDATE is None or not text.replace("-", "").replace("_", "").isalnum():
        return True
    match = _PHONE_CANDIDATE.match(text)
    return match is not None and match.end() == len(text)


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a string of digits.

    >>> luhn_ok("4111111111111111"), luhn_ok("4111111111111112")
    (True, False)
    """
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban_ok(text: str) -> bool:
    compact = text.replace(" ", "")
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def _ip_ok(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _glued(text: str, start: int, end: int) -> bool:
    """Whether a match touches a letter, digit, dash or underscore on either side."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return before.isalnum() or before in "-_" or after.isalnum() or after in "-_"


def _phones(text: str, taken: list[tuple[int, int]]) -> list[tuple[str, int, int]]:
    found: list[tuple[str, int, int]] = []
    for region in _PHONE_REGIONS:
        for match in phonenumbers.PhoneNumberMatcher(
            text, region, leniency=phonenumbers.Leniency.VALID, max_tries=16
        ):
            start, end = match.start, match.end
            raw = match.raw_string
            if raw.isdigit():  # a bare run of digits: an id or a timestamp, not a phone
                continue
            if _glued(text, start, end):  # part of a longer token (a UUID, a SKU)
                continue
            if any(s < end and start < e for s, e in taken):
                continue
            taken.append((start, end))
            found.append(("phone", start, end))
    return found


def _add(found: list[tuple[str, int, int]], kind: str, start: int, end: int) -> None:
    """Add a match unless it overlaps one already found."""
    if not any(s < end and start < e for _, s, e in found):
        found.append((kind, start, end))


def find_pii(text: str) -> list[tuple[str, int, int]]:
    """Every personal-data match in ``text``: ``(kind, start, end)``, in text order."""
    text = text[:MAX_TEXT]
    if _PLAIN.fullmatch(text):
        return []  # a UUID or an ISO 8601 timestamp: no detector can match it
    has_digits = _DIGITS7.search(text) is not None
    if not has_digits and "@" not in text and "." not in text and ":" not in text:
        return []  # nothing any detector could match (the common case: ids, words)
    found: list[tuple[str, int, int]] = []
    if "@" in text:
        for m in _EMAIL.finditer(text):
            _add(found, "email", m.start(), m.end())
    if has_digits:
        if not text.islower():  # an IBAN needs capital letters
            for m in _IBAN.finditer(text):
                if _iban_ok(m.group()):
                    _add(found, "iban", m.start(), m.end())
        for m in _CARD.finditer(text):
            digits = re.sub(r"\D", "", m.group())
            if 13 <= len(digits) <= 19 and luhn_ok(digits):
                _add(found, "payment_card", m.start(), m.end())
    if "." in text:
        for m in _IPV4.finditer(text):
            if _ip_ok(m.group()):
                _add(found, "ip_address", m.start(), m.end())
    if text.count(":") >= 2:
        for m in _IPV6.finditer(text):
            if _ip_ok(m.group()):
                _add(found, "ip_address", m.start(), m.end())
    if has_digits and _phone_possible(text):
        found.extend(_phones(text, [(s, e) for _, s, e in found]))
    if len(found) > 1:
        found.sort(key=lambda item: item[1])
    return found


def mask(text: str, matches: list[tuple[str, int, int]] | None = None) -> str:
    """``text`` with each personal-data match replaced by ``[kind]``."""
    if matches is None:
        matches = find_pii(text)
    if not matches:
        return text[:MAX_TEXT] if len(text) > MAX_TEXT else text
    out: list[str] = []
    last = 0
    for kind, start, end in matches:
        out.append(text[last:start])
        out.append(f"[{kind}]")
        last = end
    out.append(text[last:MAX_TEXT])
    return "".join(out)
