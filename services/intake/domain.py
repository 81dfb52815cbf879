"""Intake's pure decisions: priority from impact x urgency, a category guess from the text, and
`decide(command, ticket, actor)` for every command in every status. No I/O, no clock."""

from __future__ import annotations

from shared.domain import commands as c
from shared.domain.categories import guess_category
from shared.domain.events import Payload, Rejected
from shared.domain.events import catalogue as ev
from shared.domain.events.catalogue import Level, Priority, Status
from shared.domain.i18n import t
from shared.domain.masking import mask
from shared.domain.ticket import MAX_LEVEL, OPEN_STATUSES, Ticket

# ITIL's 3x3 matrix: rows impact, columns urgency.
PRIORITY_MATRIX: dict[tuple[Level, Level], Priority] = {
    (Level.high, Level.high): Priority.P1,
    (Level.high, Level.medium): Priority.P2,
    (Level.high, Level.low): Priority.P3,
    (Level.medium, Level.high): Priority.P2,
    (Level.medium, Level.medium): Priority.P3,
    (Level.medium, Level.low): Priority.P4,
    (Level.low, Level.high): Priority.P3,
    (Level.low, Level.medium): Priority.P4,
    (Level.low, Level.low): Priority.P4,
}


def priority(impact: Level, urgency: Level) -> Priority:
    return PRIORITY_MATRIX[(impact, urgency)]


class CommandRejected(Rejected):
    """A command that does not apply: `code` and `params` make the message in any language."""

    def __init__(self, code: str, http_status: int = 409, **params: object) -> None:
        super().__init__(t(code, "es", **params))
        self.code = code
        self.params = params
        self.http_status = http_status
        self.version: int | None = None  # the ticket's, as the refusal saw it (handlers set it)

    def message(self, lang: str) -> str:
        return t(self.code, lang, **self.params)


# The fields people type freely in: masked before they reach an event (shared.domain.masking).
FREE_TEXT = ("subject", "description", "body", "question", "summary", "reason", "comment")


def mask_command(cmd: c.Command) -> tuple[c.Command, tuple[str, ...]]:
    """The command with confidential data masked in its free text, and the kinds found."""
    changes: dict[str, str] = {}
    kinds: list[str] = []
    for name in FREE_TEXT:
        value = getattr(cmd, name, None)
        if isinstance(value, str) and value:
            masked = mask(value)
            if masked.kinds:
                changes[name] = masked.text
                kinds += [k for k in masked.kinds if k not in kinds]
    return (cmd.model_copy(update=changes) if changes else cmd), tuple(kinds)


def decide_open(cmd: c.OpenTicket, ticket_id: str, default_language: str) -> ev.TicketOpened:
    category = cmd.category or guess_category(f"{cmd.subject} {cmd.description}")
    return ev.TicketOpened(
        ticket_id=ticket_id,
        requester=cmd.requester,
        subject=cmd.subject,
        description=cmd.description,
        category=category,
        category_guessed=cmd.category is None,
        impact=cmd.impact,
        urgency=cmd.urgency,
        priority=priority(cmd.impact, cmd.urgency),
        order_id=cmd.order_id,
        language=cmd.language or default_language,
        attachments=cmd.attachments,
        channel=cmd.channel,
        follows=cmd.follows,
    )


def decide_write(cmd: c.Write, ticket: Ticket | None, sender: str) -> list[Payload] | None:
    """What the requester's words (`sender`: their pseudonym) are on this ticket: an answer while
    we wait for them, a reopening once it is resolved, else a comment. None: they start a new
    ticket (the ticket is unknown, closed or erased, or it is not theirs: a stranger never
    writes into someone else's ticket)."""
    if ticket is None or ticket.erased or ticket.requester != sender or ticket.status == Status.closed:
        return None
    tid, files = ticket.id, cmd.attachments
    if ticket.status == Status.resolved:
        return [ev.TicketReopened(ticket_id=tid, by=sender, reason=cmd.body, attachments=files)]
    if ticket.pending_question:
        return [ev.TicketCustomerReplied(ticket_id=tid, requester=sender, body=cmd.body, attachments=files)]
    return [ev.TicketCommented(ticket_id=tid, author=sender, author_role="requester", body=cmd.body, attachments=files)]


def write_as_open(cmd: c.Write, follows: str | None) -> c.OpenTicket:
    """A `write` that starts a ticket: the words as its description, the files with it."""
    return c.OpenTicket(
        requester=cmd.sender,
        subject=cmd.subject,
        description=cmd.body,
        language=cmd.language,
        channel=cmd.channel,
        attachments=cmd.attachments,
        follows=follows,
    )


def decide(cmd: c.Command, ticket: Ticket, actor: c.Actor, other: Ticket | None = None) -> list[Payload]:
    """The events a command on an existing ticket produces, or CommandRejected. `other`: the
    second ticket a link or a merge names (None when it does not exist)."""
    name = c.NAME_OF[type(cmd)]
    tid, status = ticket.id, ticket.status
    if ticket.erased:
        raise CommandRejected("erased", 410)

    def need_status(*allowed: Status) -> None:
        if status not in allowed:
            if status == Status.closed and Status.closed not in allowed:
                raise CommandRejected("closed_use_reopen")
            raise CommandRejected("not_allowed_in_status", command=name, status=status.value)

    def need_requester() -> None:
        is_requester = actor.role == "requester" and actor.id == ticket.requester
        if not is_requester and actor.role != "system":
            raise CommandRejected("not_requester", 403, command=name)

    def need_staff() -> None:
        if not actor.is_staff:
            raise CommandRejected("agents_only", 403, command=name)

    match cmd:
        case c.Comment():
            need_status(*OPEN_STATUSES, Status.resolved)
            if actor.role == "requester":
                need_requester()
                if cmd.internal:
                    raise CommandRejected("agents_only", 403, command="comment (internal)")
            role = "requester" if actor.role == "requester" else ("system" if actor.role == "system" else "agent")
            return [
                ev.TicketCommented(
                    ticket_id=tid,
                    author=actor.id,
                    author_role=role,
                    body=cmd.body,
                    internal=cmd.internal,
                    attachments=cmd.attachments,
                )
            ]
        case c.RequestInfo():
            need_staff()
            need_status(Status.assigned, Status.in_progress)
            return [ev.TicketInfoRequested(ticket_id=tid, agent_id=actor.id, question=cmd.question)]
        case c.Reply():
            need_requester()
            need_status(*OPEN_STATUSES)
            if not ticket.pending_question:
                raise CommandRejected("no_pending_question")
            return [
                ev.TicketCustomerReplied(
                    ticket_id=tid, requester=ticket.requester, body=cmd.body, attachments=cmd.attachments
                )
            ]
        case c.Resolve():
            need_staff()
            need_status(Status.assigned, Status.in_progress, Status.waiting_on_customer)
            return [ev.TicketResolved(ticket_id=tid, agent_id=actor.id, summary=cmd.summary)]
        case c.Confirm():
            need_requester()
            need_status(Status.resolved)
            return [
                ev.TicketResolutionConfirmed(ticket_id=tid, requester=ticket.requester),
                ev.TicketClosed(ticket_id=tid, by=actor.id, reason="resolution confirmed"),
            ]
        case c.Reject():
            need_requester()
            need_status(Status.resolved)
            return [ev.TicketResolutionRejected(ticket_id=tid, requester=ticket.requester, reason=cmd.reason)]
        case c.Reopen():
            if actor.role == "requester":
                need_requester()
            need_status(Status.resolved, Status.closed)
            return [ev.TicketReopened(ticket_id=tid, by=actor.id, reason=cmd.reason, attachments=cmd.attachments)]
        case c.Close():
            if actor.role == "requester":
                need_requester()  # a requester may withdraw an open ticket
                need_status(*OPEN_STATUSES, Status.resolved)
            else:
                need_status(Status.resolved)  # staff close only what is resolved
            return [ev.TicketClosed(ticket_id=tid, by=actor.id, reason=cmd.reason)]
        case c.Feedback():
            need_requester()
            need_status(Status.resolved, Status.closed)
            if ticket.feedback_rating is not None:
                raise CommandRejected("feedback_given")
            return [
                ev.TicketFeedbackGiven(
                    ticket_id=tid, requester=ticket.requester, rating=cmd.rating, comment=cmd.comment
                )
            ]
        case c.Escalate():
            need_staff()
            need_status(*OPEN_STATUSES)
            if ticket.level >= MAX_LEVEL:
                raise CommandRejected("top_level", level=ticket.level)
            return [
                ev.TicketEscalated(
                    ticket_id=tid,
                    from_level=ticket.level,
                    to_level=ticket.level + 1,
                    reason=cmd.reason,
                    by=actor.id,
                )
            ]
        case c.Categorize():
            need_staff()
            need_status(*OPEN_STATUSES)
            category = cmd.category or ticket.category
            impact, urgency = cmd.impact or ticket.impact, cmd.urgency or ticket.urgency
            if (category, impact, urgency) == (ticket.category, ticket.impact, ticket.urgency):
                raise CommandRejected("nothing_changes")
            return [
                ev.TicketCategorized(
                    ticket_id=tid,
                    category=category,
                    priority=priority(impact, urgency),
                    reason=cmd.reason,
                    impact=impact,
                    urgency=urgency,
                    by=actor.id,
                )
            ]
        case c.Tags():
            need_staff()
            need_status(*OPEN_STATUSES, Status.resolved)
            added = tuple(sorted(set(cmd.add) - set(ticket.tags) - set(cmd.remove)))
            removed = tuple(sorted(set(cmd.remove) & set(ticket.tags)))
            if not added and not removed:
                raise CommandRejected("nothing_changes")
            if len(set(ticket.tags) | set(added)) - len(removed) > c.MAX_TAGS:
                raise CommandRejected("too_many_tags", limit=c.MAX_TAGS)
            return [ev.TicketTagged(ticket_id=tid, added=added, removed=removed, by=actor.id)]
        case c.Link():
            need_staff()
            _other(ticket, other, cmd.to)
            if (cmd.to in ticket.links) != cmd.unlink:
                raise CommandRejected("nothing_changes")
            return [ev.TicketLinked(ticket_id=tid, other=cmd.to, unlinked=cmd.unlink, by=actor.id)]
        case c.Merge():
            need_staff()
            need_status(*OPEN_STATUSES, Status.resolved)
            target = _other(ticket, other, cmd.into)
            if target.requester != ticket.requester:
                raise CommandRejected("merge_other_requester", other=target.id)
            if target.status == Status.closed or target.erased:
                raise CommandRejected("merge_into_closed", other=target.id)
            return [ev.TicketMerged(ticket_id=tid, into=target.id, by=actor.id, reason=cmd.reason)]
    raise CommandRejected("unknown_command", 400, command=name, valid=", ".join(c.TICKET_COMMANDS))


def _other(ticket: Ticket, other: Ticket | None, named: str) -> Ticket:
    if named == ticket.id:
        raise CommandRejected("same_ticket")
    if other is None or other.id != named:
        raise CommandRejected("not_found", 404, ticket_id=named)
    return other
