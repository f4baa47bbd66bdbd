"""PII detectors: matches in whole values and inside text, and what must not match."""

from __future__ import annotations

import pytest

from streamguard.inventory.pii import find_pii, mask


def kinds(text: str) -> list[str]:
    return [kind for kind, _, _ in find_pii(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ana.silva+shop@example.com.br", ["email"]),
        ("write to bob@example.org today", ["email"]),
        ("+1 (650) 253-0000", ["phone"]),
        ("call 020 7946 0958 now", ["phone"]),  # UK national format
        ("+44 20 7946 0958", ["phone"]),
        ("+55 11 91234-5678", ["phone"]),  # Brazil mobile
        ("+49 30 901820", ["phone"]),  # Germany
        ("4111 1111 1111 1111", ["payment_card"]),
        ("paid with 5500-0000-0000-0004 yesterday", ["payment_card"]),
        ("378282246310005", ["payment_card"]),  # Amex, 15 digits
        ("client 192.168.1.20 retried", ["ip_address"]),
        ("2001:db8::8a2e:370:7334", ["ip_address"]),
        ("GB82 WEST 1234 5698 7654 32", ["iban"]),
        ("DE89370400440532013000", ["iban"]),
    ],
)
def test_detects(text: str, expected: list[str]) -> None:
    assert kinds(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111112",  # Luhn fails
        "1793491300000",  # epoch millis
        "1793491300",  # epoch seconds
        "p00042",
        "6502530000",  # bare digits: an id, not a phone
        "068043dc-563c-422e-b966-cf6b9c04c9a1",
        "7e2e5914-4365-4749-8fd7-99967cb53589",
        "s-c966b4c4f1ab",
        "99.99",
        "2026-11-01T00:00:00.001Z",
        "999.1.1.1",
        "DE89370400440532013001",  # IBAN checksum fails
        "red running shoes, size 42",
    ],
)
def test_does_not_match(text: str) -> None:
    assert kinds(text) == []


def test_mask_replaces_every_match() -> None:
    text = "ana@example.com / +44 20 7946 0958 / 4111 1111 1111 1111"
    assert mask(text) == "[email] / [phone] / [payment_card]"


@pytest.mark.parametrize(
    "text",
    [
        "2008-09-04T21:18:07.123646",  # microseconds once read as a phone
        "2026-11-01 10:00:00+05:30",
        "2026-11-01",
        "12345678-1234-1234-1234-123456789012",  # an all-digit UUID
        "0BB47ECC-1B0A-456B-B5D7-9EF6B9D39A7A",  # upper case: scanned in full
        "ord-4111-1111",
        "sku_6502530000",
    ],
)
def test_timestamps_and_ids_are_not_pii(text: str) -> None:
    assert kinds(text) == []


def test_pii_next_to_a_timestamp_or_uuid_is_still_found() -> None:
    assert kinds("at 2026-11-01T10:00:00Z call +44 20 7946 0958") == ["phone"]
    assert kinds("7e2e5914-4365-4749-8fd7-99967cb53589 ana@example.com") == ["email"]
    assert kinds("4111-1111-1111-1111") == ["payment_card"]  # a card is one token too
