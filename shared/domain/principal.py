"""Who is asking, and what each role may do: the roles, a service token's scopes, and the
`Principal` every access decision takes. Pure (the tokens that prove it: shared.platform.auth)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.domain.commands import Actor

Role = Literal["requester", "agent", "supervisor", "auditor", "admin", "service"]
ROLES: tuple[Role, ...] = ("requester", "agent", "supervisor", "auditor", "admin", "service")
# Roles that read every ticket (agents read their own queue and their teams' tickets).
READ_ALL: frozenset[str] = frozenset({"supervisor", "auditor", "admin", "service"})
STAFF: frozenset[str] = frozenset({"agent", "supervisor", "admin"})


class AuthError(Exception):
    """401 (no or bad credentials) or 403 (a role that may not): `code` and `params` make the message."""

    def __init__(self, status: int, code: str, **params: object) -> None:
        super().__init__(code)
        self.status, self.code, self.params = status, code, params


# What another system (a service token) may do, granted one by one in the token's `scope` claim
# (space-separated, as OAuth 2.0 writes it): a service token with none may do nothing.
SCOPES: tuple[str, ...] = (
    "tickets:open",  # open tickets for requesters
    "tickets:read",  # read any ticket, internal notes included (recorded in the access log)
    "tickets:act",  # staff's commands on tickets (comment, resolve, escalate, categorize, ...)
    "tickets:act-for-requester",  # the requester's own commands (reply, confirm, reject, feedback)
    "roster:write",  # register, change and move agents; assign tickets by hand
    "webhooks:write",  # subscribe to ticket events
    "mail:bounces",  # report a mail that bounced (the inbound mail service)
    "audits:open",  # open a period's audit with its sample and figures (the projections' schedule)
)
FOR_REQUESTER_COMMANDS = frozenset({"reply", "confirm", "reject", "feedback", "reopen", "write"})


def command_scope(command: str) -> str:
    """The scope a service needs to give `command` (an HTTP path segment or `open`)."""
    if command == "open":
        return "tickets:open"
    return "tickets:act-for-requester" if command in FOR_REQUESTER_COMMANDS else "tickets:act"


@dataclass(frozen=True)
class Principal:
    role: Role
    sub: str
    name: str | None = None
    scopes: frozenset[str] = frozenset()  # a service's grants (other roles: their role decides)

    def need(self, scope: str) -> Principal:
        """A service may only do what its token grants; people's roles decide for them."""
        if self.role == "service" and scope not in self.scopes:
            raise AuthError(403, "missing_scope", scope=scope)
        return self

    @property
    def display(self) -> str:
        return self.name or self.sub

    @property
    def reads_all(self) -> bool:
        return self.role in READ_ALL

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF

    def actor(self) -> Actor:
        """Who the change is recorded as: admins act as supervisors, services as `system`."""
        match self.role:
            case "requester" | "agent" | "supervisor":
                return Actor(self.role, self.sub)
            case "admin":
                return Actor("supervisor", self.sub)
            case "service":
                return Actor("system", self.sub)
        raise AuthError(403, "read_only", role=self.role)

    def require(self, *roles: Role) -> Principal:
        if self.role not in roles:
            raise AuthError(403, "forbidden_role", role=self.role, allowed=", ".join(roles))
        return self
