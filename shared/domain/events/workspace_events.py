"""workspace.events: what the support team sets up to work with, not facts of one ticket: macros
(canned answers with their actions) and the custom fields tickets carry. Intake writes them;
the projections fold them for lists and pages. Staff texts: kept in clear, on purpose."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.events.marks import Operational, Plain
from shared.domain.events.registry import Payload, event
from shared.domain.events.vocabulary import Category, Id, Level, Short, Slug, Tag

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
