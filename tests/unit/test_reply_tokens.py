"""Reply addresses: a mail joins a ticket only through a token Mesa made for that ticket."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.domain.reply_tokens import is_support, reply_address, ticket_of

KEY = b"k" * 32
SUPPORT = "soporte@mesa.local"
tickets = st.from_regex(r"T-[0-9A-HJKMNP-TV-Z]{8}", fullmatch=True)


@given(tickets)
def test_a_reply_address_names_its_ticket_and_only_with_our_key(ticket_id: str) -> None:
    address = reply_address(SUPPORT, ticket_id, KEY)
    assert address.startswith("soporte+") and address.endswith("@mesa.local")
    assert ticket_of(address, SUPPORT, KEY) == ticket_id
    assert ticket_of(address.upper(), SUPPORT, KEY) == ticket_id  # mail clients change case
    assert ticket_of(address, SUPPORT, b"x" * 32) is None
    assert is_support(address, SUPPORT)


@given(tickets, tickets)
def test_a_token_moved_to_another_ticket_or_altered_joins_nothing(a: str, b: str) -> None:
    address = reply_address(SUPPORT, a, KEY)
    moved = address.replace(a, b)
    assert ticket_of(moved, SUPPORT, KEY) == (b if a == b else None)
    local, _, domain = address.partition("@")
    altered = f"{local[:-1]}{'a' if local[-1] != 'a' else 'b'}@{domain}"
    assert ticket_of(altered, SUPPORT, KEY) is None


def test_other_addresses_name_no_ticket() -> None:
    for other in (
        "soporte@mesa.local",
        "soporte+ventas@mesa.local",
        "otro+T-0123ABCD.aaaaaaaaaaaa@mesa.local",
        "soporte+T-0123ABCD.aaaaaaaaaaaa@evil.example",
        "nada",
    ):
        assert ticket_of(other, SUPPORT, KEY) is None
    assert is_support("Soporte+ventas@Mesa.local", SUPPORT) and not is_support("ventas@mesa.local", SUPPORT)
