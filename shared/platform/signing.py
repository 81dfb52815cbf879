"""Who wrote a record: every service signs what it publishes, every reader checks it.

A principal allowed to write `ticket.events` (routing, say) could otherwise write any event on it,
and whoever runs the broker could rewrite history. So each service has an Ed25519 key; its outbox
relay signs each record over its key, headers and value (batched: see `merkle`), and adds
`mesa_kid` (which key), `mesa_proof` (the record's path to its batch's root) and `mesa_sig`.
Readers (every consumer, replay, `mesa audit verify`) hold the trusted public keys (`trust.json`,
outside Kafka: whoever controls the broker must not control the trust) and refuse, as a dead
letter with its reason, a record that is unsigned, whose signature does not verify, or whose
signer does not own its event type (`shared.domain.events.catalogue.owners_of`).

Records written before signing existed stay readable: `trust.json` records, per partition, the
offset where signing began (`mesa signing cutover`); an unsigned record below it is history.

Layout of the signing folder (mode 0700): `<service>.key` (the 32-byte private seed, hex, mode
0600, read only by that service) and `trust.json`:

    {"keys": {"<kid>": {"service": "intake", "public_key": "<base64>"}},
     "cutover": {"<topic>": {"<partition>": <offset>}}}

A rotated key stays in `keys` (old records keep verifying); a new one is added beside it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from shared.domain.events.catalogue import owners_of
from shared.domain.events.errors import BadSignature, NotOwner, Unsigned
from shared.platform import topology

Headers = list[tuple[str, bytes]]
SIG = "mesa_sig"
KID = "mesa_kid"
PROOF = "mesa_proof"
# Added after signing by whoever handles the record later (a dead letter's why and where): not
# part of what the producer vouched for.
_UNSIGNED_PREFIXES = ("dlq_",)
SERVICES = tuple(s.name for s in topology.STATIONS)  # each signs as itself
TRUST_FILE = "trust.json"
_VOUCHED_NODES = 16_384  # about 2.5 MB: what a live consumer reads of the last few hundred batches
_VERIFIED_ROOTS = 4096
_DOMAIN = b"mesa-record-v1"


_ABSENT = b"\xff\xff\xff\xff"
_framed_names: dict[str, bytes] = {}  # a header's name framed once; b"": not signed


def _framed_name(name: str) -> bytes:
    """`name` framed (4-byte length, then its bytes), or b"" for a header no signature covers."""
    framed = _framed_names.get(name)
    if framed is None:
        if name in (SIG, PROOF) or name.startswith(_UNSIGNED_PREFIXES):
            framed = b""
        else:
            raw = name.encode()
            framed = len(raw).to_bytes(4, "big") + raw
        if len(_framed_names) < 1024:  # names from other systems' headers: keep the set bounded
            _framed_names[name] = framed
    return framed


def signed_bytes(key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, bytes]]) -> bytes:
    """What a signature covers, unambiguously: each part length-prefixed (absent: 0xFFFFFFFF)."""
    # one pass over the headers, names framed once (every consumer frames every record it
    # reads); the count of signed headers goes in its place once they are counted
    parts = [_DOMAIN, _ABSENT if key is None else len(key).to_bytes(4, "big") + key, b""]
    add = parts.append
    known = _framed_names
    for name, raw in headers:
        framed = known.get(name)
        if framed is None:
            framed = _framed_name(name)
        if not framed:
            continue
        add(framed)
        add(_ABSENT if raw is None else len(raw).to_bytes(4, "big") + raw)
    parts[2] = ((len(parts) - 3) // 2).to_bytes(4, "big")
    parts.append(_ABSENT if value is None else len(value).to_bytes(4, "big") + value)
    return b"".join(parts)


def key_id(public: VerifyKey) -> str:
    return hashlib.sha256(bytes(public)).hexdigest()[:16]


# A relay publishes a batch of events at once, so it signs the batch: the Merkle root of the
# records' hashes, once, and gives each record its path to the root (`mesa_proof`: one byte for
# the side, 32 for the sibling, per level). A reader folds the path and verifies the root's
# signature once per batch (`Trust` remembers verified roots): at saturation, batches of tens or
# hundreds of events cost one Ed25519 verification instead of one each. Leaves and nodes are
# hashed under different prefixes, so no record can pose as an inner node.
_ROOT_DOMAIN = b"mesa-batch-v1"
_LEFT, _RIGHT = b"L", b"R"  # which side the sibling is on
_LEFT_BYTE, _RIGHT_BYTE = _LEFT[0], _RIGHT[0]


def _leaf(key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, bytes]]) -> bytes:
    return hashlib.sha256(b"\x00" + signed_bytes(key, value, headers)).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle(leaves: Sequence[bytes]) -> tuple[bytes, list[bytes]]:
    """(root, each leaf's path to it). An odd node out is carried up a level unchanged."""
    paths = [bytearray() for _ in leaves]
    members = [[i] for i in range(len(leaves))]  # which leaves sit under each node of the level
    level = list(leaves)
    while len(level) > 1:
        nxt, grouped = [], []
        for j in range(0, len(level), 2):
            if j + 1 == len(level):
                nxt.append(level[j])
                grouped.append(members[j])
                continue
            left, right = level[j], level[j + 1]
            for i in members[j]:
                paths[i] += _RIGHT + right
            for i in members[j + 1]:
                paths[i] += _LEFT + left
            nxt.append(_node(left, right))
            grouped.append(members[j] + members[j + 1])
        level, members = nxt, grouped
    return level[0], [bytes(p) for p in paths]


def fold(leaf: bytes, path: bytes) -> bytes:
    """The root a leaf's path leads to. Raises ValueError for a malformed path."""
    if len(path) % 33:
        raise ValueError("a Merkle path is whole 33-byte steps")
    node = leaf
    for at in range(0, len(path), 33):
        side, sibling = path[at], path[at + 1 : at + 33]
        if side == _RIGHT_BYTE:
            node = _node(node, sibling)
        elif side == _LEFT_BYTE:
            node = _node(sibling, node)
        else:
            raise ValueError("a Merkle step is L or R")
    return node


# Ed25519 through libsodium (PyNaCl): on the development VM it signs in 22 us and verifies in
# 55 us, against 36 and 105 us through OpenSSL (`cryptography`); every consumer verifies every
# record, so this is most of what trust costs (bench/delivery.py).
@dataclass(frozen=True)
class Signer:
    """A service's private key: signs the records its relay publishes."""

    service: str
    private: SigningKey
    kid: str

    @classmethod
    def from_seed(cls, service: str, seed: bytes) -> Signer:
        private = SigningKey(seed)
        return cls(service, private, key_id(private.verify_key))

    @property
    def public(self) -> VerifyKey:
        return self.private.verify_key

    def sign(self, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> Headers:
        """`headers` with this signer's key id and signature (any earlier ones replaced)."""
        [signed] = self.sign_batch([(key, value, headers)])
        return signed

    def sign_batch(
        self, records: Sequence[tuple[bytes | None, bytes | None, Sequence[tuple[str, bytes]]]]
    ) -> list[Headers]:
        """Each record's headers with the key id, its path and the batch's one signature."""
        bases = []
        for _key, _value, headers in records:
            base = [(k, v) for k, v in headers if k not in (SIG, KID, PROOF)]
            base.append((KID, self.kid.encode()))
            bases.append(base)
        root, paths = merkle([_leaf(k, v, h) for (k, v, _), h in zip(records, bases, strict=True)])
        sig = base64.b64encode(self.private.sign(_ROOT_DOMAIN + root).signature)
        return [[*h, (PROOF, base64.b64encode(p)), (SIG, sig)] for h, p in zip(bases, paths, strict=True)]


@dataclass
class Trust:
    """The public keys readers accept, and where each partition's signed history begins."""

    keys: dict[str, tuple[str, VerifyKey]] = field(default_factory=dict)
    cutover: dict[str, dict[int, int]] = field(default_factory=dict)
    # What a verified signature vouches for, oldest first: a batch's root, and every node and
    # sibling on the paths folded up to it, each with the key id and signature that vouched.
    # A record of a batch already seen folds its path only until it meets one of them: its
    # sibling's leaf, or their parent (each step is a hash the root commits to, and leaves and
    # nodes hash under different prefixes, so a record cannot pose as a node).
    _vouched: OrderedDict[bytes, tuple[str, bytes]] = field(default_factory=OrderedDict, repr=False)
    # Roots whose signature verified (key id, root, signature): a batch's records are spread over
    # partitions a consumer may read far apart, after its nodes were forgotten.
    _roots: OrderedDict[tuple[str, bytes, bytes], None] = field(default_factory=OrderedDict, repr=False)

    def signer(self, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> str | None:
        """The service that signed this record; None for an unsigned one (the caller decides
        whether that is history). Raises `BadSignature`."""
        kid = sig = path = None
        for name, raw in headers:
            if name == KID:
                kid = raw
            elif name == SIG:
                sig = raw
            elif name == PROOF:
                path = raw
        if kid is None and sig is None and path is None:
            return None
        if kid is None or sig is None or path is None:
            raise BadSignature("a signature without its key id or path")
        kid_text = bytes(kid).decode("ascii", "replace")
        found = self.keys.get(kid_text)
        if found is None:
            raise BadSignature(f"signed with key {kid_text[:32]!r}, which nobody trusts")
        service, public = found
        voucher = (kid_text, bytes(sig))
        leaf = _leaf(key, value, headers)
        if self._vouched.get(leaf) == voucher:
            return service
        try:
            self._climb(leaf, base64.b64decode(path, validate=True), voucher, public)
        except (BadSignatureError, ValueError):
            raise BadSignature(f"the signature of key {kid_text} ({service}) does not verify") from None
        return service

    def _climb(self, leaf: bytes, path: bytes, voucher: tuple[str, bytes], public: VerifyKey) -> None:
        """Fold `leaf` up its `path` until a hash already vouched for by `voucher`, or to the
        root, whose signature is then verified; remember what the path showed. Raises
        ValueError (a malformed path) or BadSignatureError."""
        if len(path) % 33:
            raise ValueError("a Merkle path is whole 33-byte steps")
        vouched = self._vouched
        shown = [leaf]
        node = leaf
        for at in range(0, len(path), 33):
            side, sibling = path[at], path[at + 1 : at + 33]
            if side == _RIGHT_BYTE:
                node = _node(node, sibling)
            elif side == _LEFT_BYTE:
                node = _node(sibling, node)
            else:
                raise ValueError("a Merkle step is L or R")
            shown += (sibling, node)
            if vouched.get(node) == voucher:
                break
        else:  # the root: its signature, unless verified before (its nodes may be forgotten since)
            root = (voucher[0], node, voucher[1])
            if root not in self._roots:
                public.verify(_ROOT_DOMAIN + node, base64.b64decode(voucher[1], validate=True))
                if len(self._roots) >= _VERIFIED_ROOTS:
                    self._roots.popitem(last=False)
                self._roots[root] = None
        for h in shown:
            if h not in vouched:
                if len(vouched) >= _VOUCHED_NODES:
                    # the oldest; O(1) here, where a dict's first key is found by skipping over
                    # the slots of every key popped before it
                    vouched.popitem(last=False)
                vouched[h] = voucher

    def check(
        self,
        topic: str,
        partition: int,
        offset: int,
        event_type: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]],
    ) -> str | None:
        """Check a record of `event_type` at its place in the log: signed by an owner of the type,
        or unsigned history before its partition's cut-over. Returns the signer (None: history).
        Raises `Unsigned`, `BadSignature` or `NotOwner`."""
        service = self.signer(key, value, headers)
        if service is None:
            if offset < self.cutover.get(topic, {}).get(partition, 0):
                return None
            raise Unsigned(f"{event_type} at {topic}/{partition}/{offset} is not signed")
        owners = owners_of(event_type)
        if service not in owners:
            who = " or ".join(sorted(owners)) or "nobody"
            raise NotOwner(f"{event_type} signed by {service}; only {who} may write it")
        return service

    # -- the file -------------------------------------------------------------------------------

    @classmethod
    def load(cls, folder: Path) -> Trust:
        path = folder / TRUST_FILE
        if not path.exists():
            raise FileNotFoundError(f"no {path}: run `mesa signing init` (make up and make test do)")
        doc = json.loads(path.read_text())
        keys = {
            kid: (entry["service"], VerifyKey(base64.b64decode(entry["public_key"])))
            for kid, entry in doc.get("keys", {}).items()
        }
        cutover = {t: {int(p): int(o) for p, o in parts.items()} for t, parts in doc.get("cutover", {}).items()}
        return cls(keys, cutover)

    def save(self, folder: Path) -> None:
        doc = {
            "keys": {
                kid: {
                    "service": service,
                    "public_key": base64.b64encode(bytes(public)).decode(),
                }
                for kid, (service, public) in sorted(self.keys.items())
            },
            "cutover": {t: {str(p): o for p, o in sorted(parts.items())} for t, parts in sorted(self.cutover.items())},
        }
        _write_private(folder / TRUST_FILE, json.dumps(doc, indent=2).encode(), mode=0o644)


def _write_private(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write atomically (a reader never sees half a file) with `mode`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


@contextlib.contextmanager
def _changing(folder: Path) -> Iterator[None]:
    """One writer of the folder at a time: `make up` and test processes (pytest's workers) may
    start at once, and a key made twice or a trust file read before another's save would leave
    a service trusted by nobody."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    fd = os.open(folder / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # (releases the lock)


def init_keys(folder: Path, services: Sequence[str] = SERVICES) -> list[str]:
    """Give every service a key if it has none, and trust each key there (idempotent). Returns
    the services that got a new key."""
    with _changing(folder):
        return _init_keys(folder, services)


def _init_keys(folder: Path, services: Sequence[str]) -> list[str]:
    trust = Trust.load(folder) if (folder / TRUST_FILE).exists() else Trust()
    made = []
    for service in services:
        path = folder / f"{service}.key"
        if not path.exists():
            seed = bytes(SigningKey.generate())
            _write_private(path, seed.hex().encode())
            made.append(service)
        signer = load_signer(path, service)
        trust.keys.setdefault(signer.kid, (service, signer.public))
    trust.save(folder)
    return made


def load_signer(path: Path, service: str) -> Signer:
    try:
        seed = bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        raise FileNotFoundError(f"no signing key {path}: run `mesa signing init` (make up and make test do)") from None
    if len(seed) != 32:
        raise ValueError(f"{path}: an Ed25519 seed is 32 bytes (64 hex digits)")
    return Signer.from_seed(service, seed)


def record_cutover(folder: Path, ends: dict[str, dict[int, int]]) -> dict[str, dict[int, int]]:
    """Record where signed history begins for topics that have no cut-over yet: each partition's
    end offset now. A topic's cut-over is decided once (a partition added to it later has none:
    everything in it must be signed), so run this before the first signing services start (make
    up does, each time: it adds only what is new). Returns what was added."""
    with _changing(folder):
        trust = Trust.load(folder)
        added = {topic: dict(parts) for topic, parts in ends.items() if topic not in trust.cutover}
        trust.cutover.update(added)
        trust.save(folder)
        return added
