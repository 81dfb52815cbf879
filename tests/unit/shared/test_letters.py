"""Dead letters without secrets (shared.platform.letters), pure: what is dropped, what is sealed, what
stays readable, and that a letter opens only with its key, whole."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.privacy import new_data_key, new_ref
from shared.platform.letters import Letter, LetterError, dlq_key, is_secret, open_letter, pseudonyms_in, seal_letter

KEY = new_data_key()
HEADERS = [
    ("ce_id", b"order-9086-1"),
    ("ce_type", b"ticket.comment"),
    ("ce_actor", b"requester:lucia@example.com"),
    ("authorization", b"Bearer eyJhbGciOi.secret.token"),
    ("Cookie", b"mesa_session=abc"),
    ("x-api-key", b"k-123"),
    ("X-Refresh-Token", b"r-456"),
    ("traceparent-ish", b"00-abc"),
    ("content-type", b"application/json"),
]
VALUE = b'{"body": "Soy Lucia, mi telefono es 600123123"}'


def _letter(value: bytes | None = VALUE, headers: list[tuple[str, bytes]] = HEADERS, **kw: object) -> Letter:
    args: dict[str, object] = {
        "dlq_topic": "ticket.requests.dlq",
        "origin": ("ticket.requests", 2, 41),
        "key": b"T-0000AAAA",
        "value": value,
        "headers": headers,
        "reason": "ticket.comment: internal: Input should be a valid boolean",
        "code": "invalid_payload",
        "consumer": "intake-requests",
        "sealed_by": "R-0123456789ABCDEF",
        "data_key": KEY,
        "sender": "orders",
    }
    return seal_letter(**(args | kw))  # type: ignore[arg-type]


def test_secret_looking_headers_are_recognised() -> None:
    for name in ("authorization", "Authorization", "cookie", "Set-Cookie", "x-api-key", "X-Auth-Token", "password"):
        assert is_secret(name), name
    for name in ("ce_id", "ce_type", "content-type", "ce_subject", "dlq_reason"):
        assert not is_secret(name), name


def test_a_letter_keeps_no_credentials_and_no_clear_text() -> None:
    letter = _letter()
    assert letter.topic == "ticket.requests.dlq"
    names = [k for k, _ in letter.headers]
    assert "authorization" not in names and "Cookie" not in names and "ce_actor" not in names
    everything = letter.value + b"".join(v for _, v in letter.headers)
    for secret in (b"eyJhbGciOi", b"mesa_session", b"k-123", b"r-456", b"600123123", b"lucia@example.com"):
        assert secret not in everything
    shown = dict(letter.headers)
    assert shown["ce_id"] == b"order-9086-1" and shown["dlq_code"] == b"invalid_payload"
    assert shown["dlq_topic"] == b"ticket.requests" and shown["dlq_offset"] == b"41"
    assert shown["dlq_sealed"] == b"R-0123456789ABCDEF" and shown["dlq_sender"] == b"orders"


def test_a_letter_opens_with_its_key_to_the_original_minus_secrets() -> None:
    letter = _letter()
    value, headers = open_letter(letter.value, letter.headers, KEY)
    assert value == VALUE
    assert headers == [(k, v) for k, v in HEADERS if not is_secret(k)]  # in their order: signatures hold
    with pytest.raises(LetterError):
        open_letter(letter.value, letter.headers, new_data_key())
    moved = [(k, b"99" if k == "dlq_offset" else v) for k, v in letter.headers]
    with pytest.raises(LetterError):
        open_letter(letter.value, moved, KEY)


@given(st.one_of(st.none(), st.binary(max_size=2000)))
def test_any_value_survives_sealing(value: bytes | None) -> None:
    letter = _letter(value=value, origin=None, sender=None)
    assert "dlq_topic" not in dict(letter.headers)
    assert open_letter(letter.value, letter.headers, KEY)[0] == value


def test_the_dlq_key_is_derived_from_the_master_key() -> None:
    master = new_data_key()
    assert dlq_key(master) == dlq_key(master) != dlq_key(new_data_key())
    assert len(dlq_key(master)) == 32 and dlq_key(master) != master


def test_pseudonyms_are_found_in_values_and_headers() -> None:
    a, b = new_ref(), new_ref()
    found = pseudonyms_in(
        f'{{"body": "enc:v2:{a}:xyz", "requester": "{a}"}}'.encode(), [("ce_actor", f"x:{b}".encode())]
    )
    assert found == [a, b]
    assert pseudonyms_in(b"R-short and lucia@example.com", []) == []
