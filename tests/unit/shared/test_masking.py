"""Masking before append: a corpus of real-looking samples in Spanish and English, and near-misses
that must stay as they are."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.masking import HIDDEN, luhn_ok, mask

MASKED = [
    # (text, what must disappear, what must remain, kinds)
    ("Me cobraron dos veces en la tarjeta 4111 1111 1111 1111 ayer", "4111 1111 1111", "1111 ayer", {"card_number"}),
    ("card 5500-0000-0000-0004 was charged twice", "5500-0000-0000", "0004", {"card_number"}),
    ("tarjeta:4012888888881881, caduca 12/27", "401288888888", "1881", {"card_number"}),
    ("Amex 3782 822463 10005 rejected", "3782 822463", "0005", {"card_number"}),
    ("Visa 4111111111111111 CVV 123", "4111111111111111", "CVV ***", {"card_number", "card_code"}),
    ("el código de seguridad es 9876 y no funciona", "9876", "código de seguridad es ***", {"card_code"}),
    ("security code: 321", "321", "security code: ***", {"card_code"}),
    ("Mi contraseña es Hunter2024! y no entra", "Hunter2024!", "contraseña es " + HIDDEN, {"password"}),
    ("password: s3cr3t-P@ss", "s3cr3t-P@ss", "password: " + HIDDEN, {"password"}),
    ("la clave nueva: 'qwerty123'", "qwerty123", HIDDEN, {"password"}),
    ("my PIN is 4821", "4821", "PIN is " + HIDDEN, {"password"}),
    ("api_key=9f8e7d6c5b4a39281706f5e4d3c2b1a0", "9f8e7d6c5b4a3928", "api_key=" + HIDDEN, {"token"}),
    ("usa la clave sk_live_51HxYzAbCdEfGhIjKlMnOp para probar", "sk_live_51HxYz", HIDDEN, {"token"}),
    ("AWS key AKIAIOSFODNN7EXAMPLE leaked", "AKIAIOSFODNN7EXAMPLE", HIDDEN, {"token"}),
    ("token ghp_1234567890abcdefghijklmnopqrstuvwxyz12", "ghp_12345", HIDDEN, {"token"}),
    (
        "Authorization: Bearer abcDEF123456ghiJKL789mno in the header",
        "abcDEF123456ghiJKL789mno",
        "Bearer " + HIDDEN,
        {"token"},
    ),
    (
        "el token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNpZ25lZA caducó",
        "eyJhbGciOiJIUzI1NiJ9",
        HIDDEN,
        {"token"},
    ),
]

KEPT = [
    "Mi pedido 2026-000123 no ha llegado",
    "Order ORD-12345678 is late",
    "Número de seguimiento 1Z999AA10123456784",
    "tracking code ES123456789012345678",
    "Llamadme al +34 612 345 678 o al 612345678",
    "call me on +1 (415) 555-0132",
    "El paquete pesa 1234 gramos y mide 40 cm",
    "referencia 1234567890123456 (no es una tarjeta: falla Luhn)",
    "La clave del problema es la red",
    "the password reset link expired",
    "token de acceso caducado",
    "Factura 0000 0000 0000 0000",
    "IMEI 490154203237518 del móvil",
]


@pytest.mark.parametrize(("text", "gone", "kept", "kinds"), MASKED)
def test_confidential_data_is_masked(text: str, gone: str, kept: str, kinds: set[str]) -> None:
    out = mask(text)
    assert gone not in out.text, out.text
    assert kept in out.text, out.text
    assert set(out.kinds) == kinds


@pytest.mark.parametrize("text", KEPT)
def test_near_misses_are_left_alone(text: str) -> None:
    out = mask(text)
    assert out.text == text and out.kinds == ()


def test_luhn() -> None:
    assert luhn_ok("4111111111111111") and luhn_ok("378282246310005")
    assert not luhn_ok("4111111111111112")


@given(st.text(max_size=300))
def test_masking_is_total_and_idempotent(text: str) -> None:
    once = mask(text)
    assert mask(once.text).text == once.text


@given(st.from_regex(r"4[0-9]{15}", fullmatch=True))
def test_every_luhn_valid_visa_number_keeps_only_its_last_four(number: str) -> None:
    out = mask(f"pagué con {number} ayer")
    if luhn_ok(number) and len(set(number)) > 1:
        assert number not in out.text and out.text.endswith(f"{number[-4:]} ayer")
    else:
        assert out.text == f"pagué con {number} ayer"
