"""workspace.events: what the support team sets up to work with and how it improves, not facts of
one ticket: macros (canned answers with their actions), the custom fields tickets carry, and the
periodic audits (clause 12: a review of a period with its sample and figures, the findings, and
the improvement actions with an owner, a due date and a status). Intake writes them; the
projections fold them for lists and pages; notify mails the reviews and the actions' owners.
Staff texts: kept in clear, on purpose (what is found refers to tickets by id, never copies a
customer's words)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.events.marks import Operational, Plain
from shared.domain.events.registry import Payload, event
from shared.domain.events.vocabulary import Category, Id, Level, Short, Slug, Tag, TicketId

MacroText = Annotated[str, Field(max_length=20_000), Operational]
FieldKind = Literal["text", "number", "date", "list", "order"]


class MacroActions(BaseModel):
    """What applying a macro does besides writing its text. Priority follows from impact and
    urgency, as everywhere (the matrix)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    internal: bool = False  # the text goes as an internal note, not to the customer
    status: Literal["waiting_on_customer", "resolved"] | None = None  # ask and wait, or resolve with it
    category: Category | None = None
    impact: Level | None = None
    urgency: Level | None = None
    add_tags: Annotated[tuple[Tag, ...], Field(max_length=10)] = ()


@event("macro.saved", owner="intake", audience="staff")
class MacroSaved(Payload):
    """A macro created or changed: shared (supervisors and admins keep them) or an agent's own."""

    macro_id: Slug
    name: Annotated[Short, Plain]
    owner: Id | None = None  # the agent whose personal macro it is; None: shared
    text_es: MacroText = ""
    text_en: MacroText = ""
    actions: MacroActions = MacroActions()
    by: Id


@event("macro.removed", owner="intake", audience="staff")
class MacroRemoved(Payload):
    macro_id: Slug
    by: Id


@event("field.defined", owner="intake", audience="staff")
class FieldDefined(Payload):
    """A custom field tickets of these categories carry (all, when none is named)."""

    field_id: Slug
    label_es: Annotated[Short, Plain]
    label_en: Annotated[Short, Plain]
    kind: FieldKind
    options: Annotated[tuple[Annotated[Short, Plain], ...], Field(max_length=100)] = ()  # for a list
    categories: tuple[Category, ...] = ()
    by: Id


@event("field.removed", owner="intake", audience="staff")
class FieldRemoved(Payload):
    field_id: Slug
    by: Id


# -- clause 12: audits that happen, and what comes of them -----------------------------------

# a review's id is its period ("2026-11", or "2026-11-03_2026-11-17" when opened by hand); a
# finding's "H-" and an action's "A-" followed by eight of Crockford's base-32
ReviewId = Annotated[str, Field(pattern=r"^\d{4}-\d{2}(-\d{2}_\d{4}-\d{2}-\d{2})?$")]
FindingId = Annotated[str, Field(pattern=r"^H-[0-9A-Z]{8}$")]
ActionId = Annotated[str, Field(pattern=r"^A-[0-9A-Z]{8}$")]
ImprovementText = Annotated[str, Field(min_length=1, max_length=5_000), Operational]
ActionStatus = Literal["open", "in_progress", "done", "dropped"]
Tickets = Annotated[tuple[TicketId, ...], Field(max_length=50)]


class ReviewFigures(BaseModel):
    """The period's figures as they stood when the review opened: what later figures are
    compared with."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    tickets: Annotated[int, Field(ge=0)]
    first_response_met_pct: float | None = None
    resolution_met_pct: float | None = None
    csat_average: float | None = None
    csat_responses: Annotated[int, Field(ge=0)] = 0
    low_ratings: Annotated[int, Field(ge=0)] = 0  # 1 or 2 of 5
    closed_confirmed: Annotated[int, Field(ge=0)] = 0
    closed_unconfirmed: Annotated[int, Field(ge=0)] = 0  # closed by themselves (clause 7)
    escalations: Annotated[int, Field(ge=0)] = 0
    reopen_rate_pct: float | None = None


@event("review.opened", owner="intake", audience="staff")
class ReviewOpened(Payload):
    """A period's audit: the tickets drawn to read (reproducible from `seed`) and its figures.
    `scheduled`: opened by the schedule (monthly by default), else by hand."""

    review_id: ReviewId
    period_from: date
    period_to: date  # the last day included
    sample: Annotated[tuple[TicketId, ...], Field(max_length=200)]
    seed: int
    figures: ReviewFigures
    scheduled: bool
    by: Id


@event("improvement.finding_recorded", owner="intake", audience="staff")
class FindingRecorded(Payload):
    """What an audit (or anyone of the staff who keeps the process) found, about these tickets."""

    finding_id: FindingId
    review_id: ReviewId | None = None
    text: ImprovementText
    tickets: Tickets = ()
    by: Id


@event("improvement.action_planned", owner="intake", audience="staff")
class ActionPlanned(Payload):
    """A change to make, by whom and by when; its status starts `open`."""

    action_id: ActionId
    finding_id: FindingId | None = None
    what: ImprovementText
    owner: Id  # a member of the staff (their sign-in id)
    due: date
    tickets: Tickets = ()
    by: Id


@event("improvement.action_updated", owner="intake", audience="staff")
class ActionUpdated(Payload):
    """An action moves on (`in_progress`, `done`, `dropped`, or back to `open`), with a note."""

    action_id: ActionId
    status: ActionStatus
    note: Annotated[str, Field(max_length=5_000), Operational] = ""
    by: Id
