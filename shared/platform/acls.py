"""Who may do what on the broker: one principal per service, least privilege, and the outside.

The broker runs `StandardAuthorizer` with `allow.everyone.if.no.acl.found=false`: a principal
without an ACL can do nothing, an anonymous client cannot even connect (SASL/SCRAM listeners).
This module is the whole table, pure (`bindings`), and its idempotent application through the
Kafka admin protocol (`ensure_acls`, run by `mesa topics create` as `admin`).

Each service writes only the topics it publishes to (its events and the dead letters of what it
consumes) and reads only the topics it consumes, in consumer groups named after it. READ and
WRITE imply DESCRIBE; WRITE on a topic implies idempotent produce (Kafka 3+).

To add a principal: `deploy/kafka.sh add-principal NAME` (a SCRAM user and its client file),
then its line in `GRANTS` below and `mesa topics create`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import (
    CreateAclsRequest_v1,
    CreateAclsRequestStruct,
    DeleteAclsRequest_v1,
    DeleteAclsRequestStruct,
)
from aiokafka.protocol.api import Request

from shared.platform.settings import Settings
from shared.platform.topics import (
    AGENT_EVENTS,
    AUDIT_ACCESS,
    AUDIT_CHECKPOINTS,
    DLQ_SUFFIX,
    TICKET_EVENTS,
    TICKET_REQUESTS,
    WORKSPACE_EVENTS,
)


class Resource(IntEnum):
    TOPIC = 2
    GROUP = 3


class Pattern(IntEnum):
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    READ = 3
    WRITE = 4
    DESCRIBE = 8


ALLOW = 3


@dataclass(frozen=True)
class Grant:
    reads: tuple[str, ...] = ()  # logical topics it consumes
    writes: tuple[str, ...] = ()  # logical topics it publishes to
    group_prefix: str | None = None  # its consumer groups: <prefix>mesa.<this>. (None: none)
    describes: tuple[str, ...] = ()  # logical topics whose ends it may see, no more
    describes_groups: str | None = None  # groups (a prefix) whose positions it may see, no more


def _dlq(*topics: str) -> tuple[str, ...]:
    return tuple(t + DLQ_SUFFIX for t in topics)


# The table. A service's consumers dead-letter into <topic>.dlq of each topic they read.
GRANTS: dict[str, Grant] = {
    "intake": Grant(
        reads=(TICKET_REQUESTS, TICKET_EVENTS, AGENT_EVENTS),
        writes=(TICKET_EVENTS, WORKSPACE_EVENTS, AUDIT_ACCESS, *_dlq(TICKET_REQUESTS, TICKET_EVENTS, AGENT_EVENTS)),
        group_prefix="mesa.intake.",
    ),
    "routing": Grant(
        reads=(TICKET_EVENTS, AGENT_EVENTS),
        writes=(TICKET_EVENTS, AGENT_EVENTS, *_dlq(TICKET_EVENTS, AGENT_EVENTS)),
        group_prefix="mesa.routing.",
    ),
    "sla": Grant(reads=(TICKET_EVENTS,), writes=(TICKET_EVENTS, *_dlq(TICKET_EVENTS)), group_prefix="mesa.sla."),
    "notify": Grant(
        reads=(TICKET_EVENTS, AGENT_EVENTS, WORKSPACE_EVENTS),
        writes=(TICKET_EVENTS, *_dlq(TICKET_EVENTS, AGENT_EVENTS, WORKSPACE_EVENTS)),
        group_prefix="mesa.notify.",
    ),
    "projections": Grant(
        reads=(TICKET_EVENTS, AGENT_EVENTS, WORKSPACE_EVENTS),
        writes=(AUDIT_ACCESS, *_dlq(TICKET_EVENTS, AGENT_EVENTS, WORKSPACE_EVENTS)),
        group_prefix="mesa.projections.",
    ),
    "audit": Grant(
        reads=(TICKET_EVENTS, AUDIT_ACCESS),
        writes=(AUDIT_CHECKPOINTS, *_dlq(TICKET_EVENTS, AUDIT_ACCESS)),
        group_prefix="mesa.audit.",
    ),
    # the support mailbox: each mail a command (and an unreadable mail a dead letter)
    "mailin": Grant(writes=(TICKET_REQUESTS, *_dlq(TICKET_REQUESTS))),
    # another internal system: it may ask (commands), never tell (events)
    "orders": Grant(writes=(TICKET_REQUESTS,)),
    # reads the record of what happened, changes nothing
    "auditor": Grant(
        reads=(TICKET_EVENTS, AGENT_EVENTS, WORKSPACE_EVENTS, AUDIT_CHECKPOINTS, AUDIT_ACCESS), group_prefix="auditor."
    ),
    # the lag watch (ops.lagwatch): where each group is and where each log ends; reads no record
    "monitor": Grant(
        describes=(TICKET_REQUESTS, TICKET_EVENTS, AGENT_EVENTS, WORKSPACE_EVENTS, AUDIT_ACCESS, AUDIT_CHECKPOINTS),
        describes_groups="mesa.",
    ),
}
# `admin` is a super user (server.properties): operators and their tools.
SUPER_USERS = ("admin",)


@dataclass(frozen=True, order=True)
class Binding:
    resource: Resource
    name: str
    pattern: Pattern
    principal: str
    operation: Operation

    def as_tuple(self) -> tuple[int, str, int, str, str, int, int]:
        return (self.resource, self.name, self.pattern, f"User:{self.principal}", "*", self.operation, ALLOW)


def bindings(settings: Settings) -> list[Binding]:
    """Every ACL Mesa needs on this deployment's topics (with its topic prefix)."""
    out: set[Binding] = set()
    for principal, grant in GRANTS.items():
        for topic in grant.reads:
            out.add(Binding(Resource.TOPIC, settings.topic(topic), Pattern.LITERAL, principal, Operation.READ))
        for topic in grant.writes:
            out.add(Binding(Resource.TOPIC, settings.topic(topic), Pattern.LITERAL, principal, Operation.WRITE))
        for topic in grant.describes:
            out.add(Binding(Resource.TOPIC, settings.topic(topic), Pattern.LITERAL, principal, Operation.DESCRIBE))
        if grant.describes_groups:
            out.add(
                Binding(
                    Resource.GROUP,
                    settings.topic(grant.describes_groups),
                    Pattern.PREFIXED,
                    principal,
                    Operation.DESCRIBE,
                )
            )
        if grant.group_prefix:
            out.add(
                Binding(
                    Resource.GROUP,
                    settings.topic(grant.group_prefix),
                    Pattern.PREFIXED,
                    principal,
                    Operation.READ,
                )
            )
    return sorted(out)


class _CreateAcls(Request[CreateAclsRequestStruct]):  # type: ignore[misc]
    """CreateAcls with many bindings in one request (aiokafka's builds one)."""

    API_KEY = 30

    def __init__(self, items: list[Binding]) -> None:
        self._items = items

    def build(self, request_struct_class: type[CreateAclsRequestStruct]) -> CreateAclsRequestStruct:
        if request_struct_class is not CreateAclsRequest_v1:
            raise NotImplementedError("CreateAcls v1 (prefixed patterns) is needed")
        return CreateAclsRequest_v1([b.as_tuple() for b in self._items])


class _DeleteAcls(Request[DeleteAclsRequestStruct]):  # type: ignore[misc]
    API_KEY = 31

    def __init__(self, items: list[Binding]) -> None:
        self._items = items

    def build(self, request_struct_class: type[DeleteAclsRequestStruct]) -> DeleteAclsRequestStruct:
        if request_struct_class is not DeleteAclsRequest_v1:
            raise NotImplementedError("DeleteAcls v1 (prefixed patterns) is needed")
        return DeleteAclsRequest_v1([b.as_tuple() for b in self._items])


async def _send(settings: Settings, request: Request[Any]) -> Any:
    admin = AIOKafkaAdminClient(**settings.kafka())
    await admin.start()
    try:
        return await admin._send_request(request)
    finally:
        await admin.close()


async def ensure_acls(settings: Settings) -> int:
    """Create every binding (creating one that exists is a no-op); return how many are wanted."""
    wanted = bindings(settings)
    response = await _send(settings, _CreateAcls(wanted))
    for code, message in response.creation_responses:
        if code:
            raise for_code(code)(f"creating ACLs: {message}")
    return len(wanted)


async def delete_acls(settings: Settings) -> None:
    """Remove this deployment's bindings (tests clean up their topic prefix)."""
    response = await _send(settings, _DeleteAcls(bindings(settings)))
    for code, message, _matching in response.filter_responses:
        if code:
            raise for_code(code)(f"deleting ACLs: {message}")
