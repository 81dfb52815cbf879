"""Event signing (shared.platform.signing), pure: what a signature covers, who may sign what, the cut-over,
the trust file. The broker-side half runs in tests/e2e/test_broker_trust.py."""

from __future__ import annotations

import base64
import random
import stat
import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nacl.signing import VerifyKey

from shared.domain.events import Envelope, known_types
from shared.domain.events import catalogue as ev
from shared.domain.events.catalogue import owners_of
from shared.domain.events.errors import BadSignature, NotOwner, Unsigned
from shared.platform import signing
from shared.platform.signing import (
    KID,
    PROOF,
    SERVICES,
    SIG,
    Signer,
    Trust,
    fold,
    init_keys,
    load_signer,
    merkle,
    record_cutover,
    signed_bytes,
)

SEEDS = {s: bytes([i + 1]) * 32 for i, s in enumerate(SERVICES)}
SIGNERS = {s: Signer.from_seed(s, seed) for s, seed in SEEDS.items()}
TRUST = Trust({k.kid: (s, k.public) for s, k in SIGNERS.items()})


def _comment() -> Envelope:
    return Envelope.new(
        ev.TicketCommented(ticket_id="T-0000AAAA", author="ana", author_role="agent", body="hola"),
        source="intake",
        subject="T-0000AAAA",
        time=datetime(2026, 11, 29, tzinfo=UTC),
        actor="agent:ana",
    )


def test_every_event_type_has_an_owner_among_the_services() -> None:
    for t in known_types():
        if t.startswith("test."):
            continue
        assert owners_of(t), t
        assert owners_of(t) <= set(SERVICES), t
    assert owners_of("ticket.assigned") == {"routing"}
    assert owners_of("ticket.opened") == {"intake"}
    assert owners_of("ticket.closed") == {"intake", "sla"}  # SLA's timers close what nobody confirmed
    assert owners_of("access.ticket_read") == {"projections", "intake"}  # reads; downloads
    assert owners_of("no.such") == frozenset()


def test_an_owner_signature_verifies_and_names_the_signer() -> None:
    key, value, headers = _comment().to_kafka()
    signed = SIGNERS["intake"].sign(key, value, headers)
    assert [k for k, _ in signed][-3:] == [KID, PROOF, SIG]
    assert TRUST.check("ticket.events", 0, 7, "ticket.commented", key, value, signed) == "intake"
    # a dead letter's own headers come after signing and are not part of it
    assert TRUST.check("ticket.events", 0, 7, "ticket.commented", key, value, [*signed, ("dlq_code", b"x")])


def test_a_service_cannot_speak_for_another() -> None:
    key, value, headers = _comment().to_kafka()
    signed = SIGNERS["routing"].sign(key, value, headers)
    with pytest.raises(NotOwner, match="signed by routing; only intake may write it"):
        TRUST.check("ticket.events", 0, 7, "ticket.commented", key, value, signed)


@given(st.sampled_from(["key", "value", "header", "reorder", "type"]), st.integers(min_value=0, max_value=2**16))
def test_any_change_after_signing_breaks_the_signature(what: str, salt: int) -> None:
    key, value, headers = _comment().to_kafka()
    signed = SIGNERS["intake"].sign(key, value, headers)
    if what == "key":
        key = key + str(salt).encode()
    elif what == "value":
        value = value.replace(b"hola", b"paga" + str(salt).encode())
    elif what == "header":
        signed = [(k, v + b"x" if k == "ce_actor" else v) for k, v in signed]
    elif what == "reorder":
        signed = [signed[1], signed[0], *signed[2:]]
    else:
        signed = [(k, b"ticket.resolved" if k == "ce_type" else v) for k, v in signed]
    with pytest.raises(BadSignature):
        TRUST.check("ticket.events", 0, 7, "ticket.commented", key, value, signed)


def _batch(n: int) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    out = []
    for i in range(n):
        env = Envelope.new(
            ev.TicketCommented(ticket_id=f"T-{i:08d}", author="ana", author_role="agent", body=f"nota {i}"),
            source="intake",
            subject=f"T-{i:08d}",
            time=datetime(2026, 11, 29, tzinfo=UTC),
        )
        out.append(env.to_kafka())
    return out


@given(st.integers(min_value=1, max_value=70), st.data())
def test_a_batch_is_signed_once_and_each_record_verifies_alone(n: int, data: st.DataObject) -> None:
    records = _batch(n)
    signed = SIGNERS["intake"].sign_batch(records)
    assert len({dict(h)[SIG] for h in signed}) == 1  # one signature for the batch
    trust = Trust(TRUST.keys)
    for (key, value, _), headers in zip(records, signed, strict=True):
        assert trust.check("t", 0, 0, "ticket.commented", key, value, headers) == "intake"
    # a record's path does not lead another record to the root
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    j = data.draw(st.integers(min_value=0, max_value=n - 1).filter(lambda j: j != i or n == 1))
    if i != j:
        borrowed = [(k, dict(signed[j])[PROOF] if k == PROOF else v) for k, v in signed[i]]
        with pytest.raises(BadSignature):
            Trust(TRUST.keys).check("t", 0, 0, "ticket.commented", records[i][0], records[i][1], borrowed)
    # nor does a changed record, even with its root's signature already verified
    key, value, _ = records[i]
    with pytest.raises(BadSignature):
        trust.check("t", 0, 0, "ticket.commented", key, value.replace(b"nota", b"paga"), signed[i])


def test_merkle_paths_fold_to_the_root_and_refuse_malformed_steps() -> None:
    leaves = [bytes([i]) * 32 for i in range(5)]
    root, paths = merkle(leaves)
    assert all(fold(leaf, path) == root for leaf, path in zip(leaves, paths, strict=True))
    assert merkle(leaves[:1]) == (leaves[0], [b""])
    with pytest.raises(ValueError):
        fold(leaves[0], paths[0][:-1])
    with pytest.raises(ValueError):
        fold(leaves[0], b"X" + paths[0][1:])
    assert fold(leaves[0], paths[1]) != root


def test_signed_bytes_are_unambiguous() -> None:
    assert signed_bytes(b"ab", b"c", []) != signed_bytes(b"a", b"bc", [])
    assert signed_bytes(None, b"", []) != signed_bytes(b"", b"", [])
    assert signed_bytes(b"k", b"v", [("a", b"bc")]) != signed_bytes(b"k", b"v", [("ab", b"c")])


def _framed_as_specified(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> bytes:
    """The signed bytes as the format says, written the plain way: a domain tag, then the key,
    the count of signed headers, each header's name and value, and the value, each part
    length-prefixed (4 bytes, big-endian; 0xFFFFFFFF for an absent part). Signatures already on
    the log were made over exactly these bytes."""

    def part(raw: bytes | None) -> bytes:
        return b"\xff\xff\xff\xff" if raw is None else struct.pack(">I", len(raw)) + raw

    signed = [(k, v) for k, v in headers if k not in ("mesa_sig", "mesa_proof") and not k.startswith("dlq_")]
    body = b"".join(part(k.encode()) + part(v) for k, v in signed)
    return b"mesa-record-v1" + part(key) + struct.pack(">I", len(signed)) + body + part(value)


header_names = st.sampled_from(["ce_id", "ce_type", "mesa_sig", "mesa_proof", "mesa_kid", "dlq_reason", "x"]) | st.text(
    max_size=12
)


@given(
    st.none() | st.binary(max_size=40),
    st.none() | st.binary(max_size=200),
    st.lists(st.tuples(header_names, st.binary(max_size=40)), max_size=16),
)
def test_signed_bytes_are_the_specified_framing(
    key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
) -> None:
    assert signed_bytes(key, value, headers) == _framed_as_specified(key, value, headers)


def test_unknown_keys_and_half_signatures_are_refused() -> None:
    key, value, headers = _comment().to_kafka()
    stranger = Signer.from_seed("intake", b"\x99" * 32)  # named intake, trusted by nobody
    with pytest.raises(BadSignature, match="nobody trusts"):
        TRUST.check("ticket.events", 0, 7, "ticket.commented", key, value, stranger.sign(key, value, headers))
    half = [(k, v) for k, v in SIGNERS["intake"].sign(key, value, headers) if k != SIG]
    with pytest.raises(BadSignature, match="without its key id or path"):
        TRUST.check("ticket.events", 0, 7, "ticket.commented", key, value, half)
    garbled = [(k, b"%%%" if k == SIG else v) for k, v in SIGNERS["intake"].sign(key, value, headers)]
    with pytest.raises(BadSignature):
        TRUST.check("ticket.events", 0, 7, "ticket.commented", key, value, garbled)


def test_unsigned_records_are_history_only_before_their_partitions_cutover() -> None:
    key, value, headers = _comment().to_kafka()
    trust = Trust(TRUST.keys, {"ticket.events": {0: 100}})
    assert trust.check("ticket.events", 0, 99, "ticket.commented", key, value, headers) is None
    with pytest.raises(Unsigned, match=r"ticket\.events/0/100 is not signed"):
        trust.check("ticket.events", 0, 100, "ticket.commented", key, value, headers)
    with pytest.raises(Unsigned):  # another partition, another topic: no unsigned history there
        trust.check("ticket.events", 1, 0, "ticket.commented", key, value, headers)
    # a signed record below the cut-over is still checked
    with pytest.raises(NotOwner):
        trust.check("ticket.events", 0, 5, "ticket.commented", key, value, SIGNERS["sla"].sign(key, value, headers))


def test_keys_are_made_once_private_to_their_service_and_trusted(tmp_path: Path) -> None:
    folder = tmp_path / "signing"
    assert sorted(init_keys(folder)) == sorted(SERVICES)
    assert init_keys(folder) == []  # idempotent: keys are never replaced
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for service in SERVICES:
        assert stat.S_IMODE((folder / f"{service}.key").stat().st_mode) == 0o600
    trust = Trust.load(folder)
    assert sorted(s for s, _ in trust.keys.values()) == sorted(SERVICES)
    signer = load_signer(folder / "sla.key", "sla")
    key, value, headers = _comment().to_kafka()
    with pytest.raises(NotOwner):
        trust.check("t", 0, 0, "ticket.commented", key, value, signer.sign(key, value, headers))
    # a rotated key is added beside the old one: old records keep verifying
    (folder / "sla.key").unlink()
    init_keys(folder, ["sla"])
    rotated = Trust.load(folder)
    assert signer.kid in rotated.keys and len(rotated.keys) == len(SERVICES) + 1


def test_a_topics_cutover_is_recorded_once(tmp_path: Path) -> None:
    init_keys(tmp_path)
    assert record_cutover(tmp_path, {"ticket.events": {0: 10, 1: 0}}) == {"ticket.events": {0: 10, 1: 0}}
    # later runs add new topics only: a partition added since has everything signed
    assert record_cutover(tmp_path, {"ticket.events": {0: 500, 2: 3}, "agent.events": {0: 4}}) == {
        "agent.events": {0: 4}
    }
    assert Trust.load(tmp_path).cutover == {"ticket.events": {0: 10, 1: 0}, "agent.events": {0: 4}}


class _CountingKey(VerifyKey):
    """A public key that counts its signature verifications."""

    calls = 0

    def verify(self, smessage: bytes, signature: bytes | None = None, encoder: object = None) -> bytes:
        type(self).calls += 1
        return super().verify(smessage, signature)


@given(st.integers(min_value=2, max_value=70), st.randoms(use_true_random=False))
def test_a_batch_already_vouched_for_costs_no_second_verification(n: int, rnd: random.Random) -> None:
    records = _batch(n)
    signed = SIGNERS["intake"].sign_batch(records)
    _CountingKey.calls = 0
    trust = Trust({SIGNERS["intake"].kid: ("intake", _CountingKey(bytes(SIGNERS["intake"].public)))})
    order = list(range(n))
    rnd.shuffle(order)  # a batch's records may be read in any order (partitions, redeliveries)
    for i in order:
        assert trust.check("t", 0, 0, "ticket.commented", records[i][0], records[i][1], signed[i]) == "intake"
    assert _CountingKey.calls == 1
    i = order[0]
    key, value, _ = records[i]
    # what the root vouches for is that batch's records only: a changed one still folds to a
    # root nobody signed, a garbled signature is checked as what it is, an untrusted key is not
    # trusted because its batches were
    with pytest.raises(BadSignature):
        trust.check("t", 0, 0, "ticket.commented", key, value.replace(b"nota", b"paga"), signed[i])
    garbled = [(k, base64.b64encode(b"\x01" * 64) if k == SIG else v) for k, v in signed[i]]
    with pytest.raises(BadSignature):
        trust.check("t", 0, 0, "ticket.commented", key, value, garbled)
    trust.keys.clear()
    with pytest.raises(BadSignature, match="nobody trusts"):
        trust.check("t", 0, 0, "ticket.commented", key, value, signed[i])


def test_what_is_vouched_for_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signing, "_VOUCHED_NODES", 50)
    trust = Trust(TRUST.keys)
    for _ in range(5):
        records = _batch(40)
        for (key, value, _), headers in zip(records, SIGNERS["intake"].sign_batch(records), strict=True):
            assert trust.check("t", 0, 0, "ticket.commented", key, value, headers) == "intake"
            assert len(trust._vouched) <= 50
