"""The chain's canonical forms: form 1 digests as every chain made before issue 22 recorded them,
form 2 is unambiguous (it reads back to the record it came from), and each link's form follows
its partition's cut-over."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from services.audit.chain import (
    FORM,
    FORM_FRAMED,
    FORM_JSON,
    canonical_framed,
    digest,
    form_at,
)

Headers = list[tuple[str, bytes | None]]
maybe_bytes = st.none() | st.binary(max_size=64)
headers = st.lists(st.tuples(st.text(max_size=12), maybe_bytes), max_size=6)


def read_framed(raw: bytes) -> tuple[bytes | None, Headers, bytes | None]:
    """canonical_framed read back: if every form-2 encoding parses to the record it encodes, no
    two records share one."""
    domain = b"mesa-chain-v2"
    assert raw.startswith(domain)
    at = len(domain)

    def part() -> bytes | None:
        nonlocal at
        size = int.from_bytes(raw[at : at + 4], "big")
        at += 4
        if size == 0xFFFFFFFF:
            return None
        out = raw[at : at + size]
        assert len(out) == size
        at += size
        return out

    key = part()
    count = int.from_bytes(raw[at : at + 4], "big")
    at += 4
    read: Headers = []
    for _ in range(count):
        name = part()
        assert name is not None
        read.append((name.decode(), part()))
    value = part()
    assert at == len(raw), "bytes left over"
    return key, read, value


@given(maybe_bytes, maybe_bytes, headers)
def test_the_framed_form_reads_back_to_its_record(key: bytes | None, value: bytes | None, hs: Headers) -> None:
    assert read_framed(canonical_framed(key, value, hs)) == (key, hs, value)  # type: ignore[arg-type]


@given(maybe_bytes, maybe_bytes, headers)
def test_the_two_forms_give_different_digests(key: bytes | None, value: bytes | None, hs: Headers) -> None:
    assert digest(key, value, hs, FORM_JSON) != digest(key, value, hs, FORM_FRAMED)  # type: ignore[arg-type]
    assert digest(key, value, hs) == digest(key, value, hs, FORM)  # type: ignore[arg-type]


def test_form_one_digests_as_the_chains_made_before_it_recorded() -> None:
    # computed with the auditor of 2026-12-01 (commit 27f0ad7), the last to chain in form 1
    record = (
        b"T-0001",
        b'{"subject":"Pedido"}',
        [("ce_type", b"ticket.opened"), ("ce_id", b"abc"), ("mesa-sig", None)],
    )
    assert digest(*record, FORM_JSON).hex() == "819b3608e14c5e34e4928306afa411f5baf7acf6829f142903ac926716a31a1b"  # type: ignore[arg-type]
    assert digest(None, None, [], FORM_JSON).hex() == (
        "a2918cb63e3f419c4339fae95e6f3f98ec43c9d2b7cd3057d7ee5a90a4540544"
    )


def test_form_two_is_sha256_of_the_framed_bytes() -> None:
    hs = [("ce_type", b"ticket.opened")]
    framed = b"mesa-chain-v2" + b"\0\0\0\x01k" + b"\0\0\0\x01" + b"\0\0\0\x07ce_type" + b"\0\0\0\x0dticket.opened"
    framed += b"\xff\xff\xff\xff"
    assert canonical_framed(b"k", None, hs) == framed
    assert digest(b"k", None, hs, FORM_FRAMED) == hashlib.sha256(framed).digest()


def test_each_link_is_in_the_form_of_its_partition_at_its_offset() -> None:
    assert [form_at(o, None) for o in (0, 5, 10**9)] == [FORM_JSON] * 3
    assert [form_at(o, 7) for o in (0, 6, 7, 8)] == [FORM_JSON, FORM_JSON, FORM_FRAMED, FORM_FRAMED]
    assert form_at(0, 0) == FORM_FRAMED
