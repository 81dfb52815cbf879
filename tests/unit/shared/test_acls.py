"""The broker's ACL table (shared.platform.acls), pure: least privilege per principal, and that every
topic a service publishes to or consumes is covered (a missing grant would stop it on the day)."""

from __future__ import annotations

from shared.platform.acls import GRANTS, Binding, Operation, Pattern, Resource, bindings
from shared.platform.settings import Settings
from shared.platform.topics import DLQ_SUFFIX, topic_specs

SETTINGS = Settings.model_validate({"MESA_TOPIC_PREFIX": "t1."})


def _can(principal: str, op: Operation, topic: str) -> bool:
    wanted = Binding(Resource.TOPIC, SETTINGS.topic(topic), Pattern.LITERAL, principal, op)
    return wanted in bindings(SETTINGS)


def test_orders_may_only_write_requests() -> None:
    granted = [b for b in bindings(SETTINGS) if b.principal == "orders"]
    assert granted == [Binding(Resource.TOPIC, "t1.ticket.requests", Pattern.LITERAL, "orders", Operation.WRITE)]


def test_the_auditor_reads_and_never_writes() -> None:
    granted = [b for b in bindings(SETTINGS) if b.principal == "auditor"]
    assert granted and all(b.operation == Operation.READ for b in granted)
    assert {b.name for b in granted if b.resource == Resource.TOPIC} == {
        "t1.ticket.events",
        "t1.agent.events",
        "t1.workspace.events",
        "t1.audit.checkpoints",
        "t1.audit.access",
    }


def test_each_service_writes_only_what_it_publishes() -> None:
    assert _can("routing", Operation.WRITE, "agent.events") and not _can("intake", Operation.WRITE, "agent.events")
    assert not _can("projections", Operation.WRITE, "ticket.events")
    assert _can("projections", Operation.WRITE, "audit.access")
    assert not _can("notify", Operation.WRITE, "ticket.requests") and not _can("sla", Operation.WRITE, "agent.events")
    assert _can("audit", Operation.WRITE, "audit.checkpoints") and not _can("audit", Operation.WRITE, "ticket.events")
    for principal, grant in GRANTS.items():
        for topic in grant.reads:  # a consumer dead-letters into its topic's DLQ
            if grant.group_prefix and principal != "auditor":
                assert _can(principal, Operation.WRITE, topic + DLQ_SUFFIX), (principal, topic)


def test_groups_are_each_services_own_and_every_grant_names_a_real_topic() -> None:
    groups = {b.principal: b.name for b in bindings(SETTINGS) if b.resource == Resource.GROUP}
    assert groups["intake"] == "t1.mesa.intake." and groups["auditor"] == "t1.auditor."
    assert all(b.pattern == Pattern.PREFIXED for b in bindings(SETTINGS) if b.resource == Resource.GROUP)
    topics = {s.name for s in topic_specs(SETTINGS)}
    assert {b.name for b in bindings(SETTINGS) if b.resource == Resource.TOPIC} <= topics


def test_the_monitor_sees_positions_and_ends_and_reads_nothing() -> None:
    granted = [b for b in bindings(SETTINGS) if b.principal == "monitor"]
    assert granted and all(b.operation == Operation.DESCRIBE for b in granted)
    assert Binding(Resource.GROUP, "t1.mesa.", Pattern.PREFIXED, "monitor", Operation.DESCRIBE) in granted
    assert {b.name for b in granted if b.resource == Resource.TOPIC} == {s.name for s in topic_specs(SETTINGS)} - {
        s.name for s in topic_specs(SETTINGS) if s.name.endswith(DLQ_SUFFIX)
    }
