"""The agent's workspace over HTTP, through the running services: tags, links, merges, search
and lists that page, each under the one access rule."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Mesa, register_roster
from tests.support import as_actor, bearer, client, eventually, every_ticket

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
async def staffed(mesa: Mesa) -> Mesa:
    await register_roster(mesa)
    return mesa


async def open_ticket(mesa: Mesa, requester: str, subject: str, description: str, **extra: Any) -> dict[str, Any]:
    async with client(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            json={"subject": subject, "description": description, **extra},
            headers=as_actor(f"requester:{requester}"),
        )
    assert r.status_code == 201, r.text
    t: dict[str, Any] = await mesa.ticket_when(r.json()["id"], lambda t: t["owner"] is not None, "an owner")
    return t


async def act(mesa: Mesa, tid: str, command: str, actor: str, body: dict[str, Any]) -> Any:
    async with client(timeout=10) as http:
        return await http.post(f"{mesa.url('intake')}/tickets/{tid}/{command}", json=body, headers=as_actor(actor))


async def listed(mesa: Mesa, actor: str, **params: Any) -> dict[str, Any]:
    role, _, sub = actor.partition(":")
    async with client(role, sub, timeout=10) as http:  # type: ignore[arg-type]
        r = await http.get(f"{mesa.url('projections')}/tickets", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_tags_are_added_and_removed_found_by_and_kept_from_the_customer(staffed: Mesa) -> None:
    mesa = staffed
    t = await open_ticket(mesa, "tere@example.com", "Paquete dañado", "La caja llegó aplastada.", order_id="PED-9001")
    owner = f"agent:{t['owner']}"
    r = await act(mesa, t["id"], "tags", owner, {"add": ["Transportista SEUR", "devolución"]})
    assert r.status_code == 200, r.text
    again = await act(mesa, t["id"], "tags", owner, {"add": ["devolución"]})
    assert again.status_code == 409 and again.json()["error"] == "nothing_changes"
    hostile = await act(mesa, t["id"], "tags", owner, {"add": ["<b>x</b>"]})
    assert hostile.status_code == 422
    by_customer = await act(mesa, t["id"], "tags", "requester:tere@example.com", {"add": ["vip"]})
    assert by_customer.status_code == 403
    seen = await mesa.ticket_when(t["id"], lambda t: t["tags"], "the tags in the view")
    assert seen["tags"] == ["devolución", "transportista_seur"] and seen["order_id"] == "PED-9001"
    found = await listed(mesa, "supervisor:sara", tag=["transportista_seur", "devolución"])
    assert [i["id"] for i in found["items"]] == [t["id"]] and found["total"] == 1
    assert (await listed(mesa, "supervisor:sara", order_id="PED-9001"))["items"][0]["id"] == t["id"]
    assert (await listed(mesa, "supervisor:sara", q="PED-9001"))["items"][0]["id"] == t["id"]
    r = await act(mesa, t["id"], "tags", owner, {"remove": ["devolución"]})
    assert r.status_code == 200
    await mesa.ticket_when(t["id"], lambda t: t["tags"] == ["transportista_seur"], "the tag removed")
    # the customer sees neither the tags nor the timeline lines about them
    async with client("requester", "tere@example.com", timeout=10) as http:
        mine = (await http.get(f"{mesa.url('projections')}/tickets/{t['id']}")).json()
    assert "tags" not in mine and not any(e["type"] == "ticket.tagged" for e in mine["timeline"])


async def test_words_find_tickets_in_spanish_and_english_but_never_through_an_internal_note(staffed: Mesa) -> None:
    mesa = staffed
    t = await open_ticket(mesa, "ines@example.com", "Reembolsos pendientes", "Pedí dos reembolsos y no llegan.")
    owner = f"agent:{t['owner']}"
    assert (
        await act(mesa, t["id"], "comment", owner, {"body": "Cliente conflictiva", "internal": True})
    ).status_code == 200
    assert (await act(mesa, t["id"], "comment", owner, {"body": "The refund was approved today."})).status_code == 200
    await mesa.ticket_when(t["id"], lambda t: sum(e["type"] == "ticket.commented" for e in t["timeline"]) == 2, "notes")
    # Spanish stems: "reembolso" finds "reembolsos"; English stems: "refunds" finds "refund"
    for words in ("reembolso", "refunds approved", "conflictiva"):
        found = await listed(mesa, "supervisor:sara", q=words)
        assert t["id"] in [i["id"] for i in found["items"]], words
    # the requester finds her ticket by its words, but an internal note's word finds nothing
    assert [i["id"] for i in (await listed(mesa, "requester:ines@example.com", q="reembolso"))["items"]] == [t["id"]]
    assert (await listed(mesa, "requester:ines@example.com", q="conflictiva"))["total"] == 0
    # nor does anyone find what they may not read
    assert (await listed(mesa, "requester:otra@example.com", q="reembolso"))["total"] == 0
    bad = await listed_raw(mesa, "supervisor:sara", {"sort": "password"})
    assert bad.status_code == 422 and "sort" in bad.json()["message"]
    bad = await listed_raw(mesa, "supervisor:sara", {"cursor": "no-es-un-cursor"})
    assert bad.status_code == 422 and "cursor" in bad.json()["message"]


async def listed_raw(mesa: Mesa, actor: str, params: dict[str, Any]) -> Any:
    role, _, sub = actor.partition(":")
    async with client(role, sub, timeout=10) as http:  # type: ignore[arg-type]
        return await http.get(f"{mesa.url('projections')}/tickets", params=params)


async def test_pages_follow_each_other_without_gaps_or_repeats_in_any_order(staffed: Mesa) -> None:
    mesa = staffed
    for i in range(7):
        t = await open_ticket(mesa, "paginas@example.com", f"Pedido {i}", f"Consulta número {i}")
        # quiet first: a ticket that changes while pages are read moves in an `updated` order
        await mesa.ticket_when(
            t["id"],
            lambda t: (
                t["sla"]["first_response_due"] and sum(e["type"] == "notification.sent" for e in t["timeline"]) >= 2
            ),
            "the ticket settled (targets set, mails sent)",
        )
    for sort in ("-updated", "opened", "priority", "-due", "id"):
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"requester": "paginas@example.com", "limit": 3, "sort": sort}
            page = await listed(mesa, "supervisor:sara", **params, **({"cursor": cursor} if cursor else {}))
            assert page["total"] == 7
            seen += [i["id"] for i in page["items"]]
            cursor = page["next"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 7, sort
    async with client(timeout=10) as http:
        assert len(await every_ticket(http, mesa.url("projections"), requester="paginas@example.com")) == 7


async def test_a_duplicate_is_merged_into_the_customers_other_ticket_and_related_ones_are_linked(
    staffed: Mesa,
) -> None:
    mesa = staffed
    first = await open_ticket(mesa, "mara@example.com", "Pedido 77 sin llegar", "El pedido 77 no llega.")
    dup = await open_ticket(mesa, "mara@example.com", "¿Dónde está mi pedido?", "Sigo esperando el 77.")
    other = await open_ticket(mesa, "otro.cliente@example.com", "Pedido 78", "Tampoco llega el 78.")
    agent = "supervisor:sara"
    # not into another customer's ticket, not into itself, not into one that does not exist
    r = await act(mesa, dup["id"], "merge", agent, {"into": other["id"]})
    assert r.status_code == 409 and r.json()["error"] == "merge_other_requester"
    r = await act(mesa, dup["id"], "merge", agent, {"into": dup["id"]})
    assert r.status_code == 409 and r.json()["error"] == "same_ticket"
    r = await act(mesa, dup["id"], "merge", agent, {"into": "T-ZZZZZZZZ"})
    assert r.status_code == 404
    r = await act(mesa, dup["id"], "merge", "requester:mara@example.com", {"into": first["id"]})
    assert r.status_code == 403
    r = await act(mesa, dup["id"], "merge", agent, {"into": first["id"]})
    assert r.status_code == 200, r.text
    merged = await mesa.ticket_when(dup["id"], lambda t: t["status"] == "merged", "the duplicate merged")
    assert merged["merged_into"] == first["id"]
    # its requester is told where it goes on, its owner's load is released
    await mesa.mail_when(lambda m: m["X-Mesa-Ticket"] == dup["id"] and m["X-Mesa-Template"] == "merged", "told")
    target = await mesa.get_ticket(first["id"])
    assert target is not None
    [came] = target["merged_from"]
    assert came["id"] == dup["id"] and came["description"] == "Sigo esperando el 77."
    assert any(e["type"] == "ticket.opened" for e in came["timeline"])
    assert dup["id"] in [o["id"] for o in target["requester_tickets"]]
    # the merged ticket takes no more commands but reopening is refused too: it lives on in the other
    r = await act(mesa, dup["id"], "comment", agent, {"body": "hola"})
    assert r.status_code == 409
    # links, both ways, and taken back
    r = await act(mesa, first["id"], "link", agent, {"to": other["id"]})
    assert r.status_code == 200, r.text
    linked = await mesa.ticket_when(other["id"], lambda t: t["links"], "the link seen from the other side")
    assert [x["id"] for x in linked["links"]] == [first["id"]]
    r = await act(mesa, first["id"], "link", agent, {"to": other["id"], "unlink": True})
    assert r.status_code == 200
    await mesa.ticket_when(other["id"], lambda t: not t["links"], "the link taken back")
    # the customer of the first ticket reads her merged conversation but not the staff's links
    async with client("requester", "mara@example.com", timeout=10) as http:
        mine = (await http.get(f"{mesa.url('projections')}/tickets/{first['id']}")).json()
    assert [m["id"] for m in mine["merged_from"]] == [dup["id"]]
    assert "links" not in mine and "requester_tickets" not in mine
    status_of = {i["id"]: i["status"] for i in (await listed(mesa, agent, status=["merged"]))["items"]}
    assert status_of.get(dup["id"]) == "merged"


async def test_a_macro_with_placeholders_answers_tags_and_resolves_in_one_command(staffed: Mesa) -> None:
    mesa = staffed
    sup = "supervisor:sara"
    macro = {
        "id": "pedido_en_camino",
        "name": "Pedido en camino",
        "text_es": "Hola {{requester.name}}: tu pedido {{ticket.order_id}} ({{ticket.id}}) ya está en camino."
        " {{agent.name}}",
        "text_en": "Hi {{requester.name}}: your order {{ticket.order_id}} ({{ticket.id}}) is on its way."
        " {{agent.name}}",
        "actions": {"status": "resolved", "add_tags": ["en_camino"], "category": "order_status"},
    }
    async with client(timeout=10) as http:
        # only supervisors and admins keep shared macros; a placeholder that does not exist is refused
        r = await http.post(f"{mesa.url('intake')}/macros", json=macro, headers=as_actor("agent:ana"))
        assert r.status_code == 403
        bad = macro | {"id": "rota", "text_es": "Hola {{requester.password}}"}
        r = await http.post(f"{mesa.url('intake')}/macros", json=bad, headers=as_actor(sup))
        assert r.status_code == 422 and "requester.password" in r.json()["message"]
        r = await http.post(
            f"{mesa.url('intake')}/macros", json=macro | {"text_es": "{{ ''.__class__ }}"}, headers=as_actor(sup)
        )
        assert r.status_code == 422
        r = await http.post(f"{mesa.url('intake')}/macros", json=macro, headers=as_actor(sup))
        assert r.status_code == 201, r.text
        # an agent's own macro is theirs alone
        mine = {"id": "nota_ana", "name": "Nota de Ana", "shared": False, "text_es": "Revisado por {{agent.name}}",
                "actions": {"internal": True}}  # fmt: skip
        r = await http.post(f"{mesa.url('intake')}/macros", json=mine, headers=as_actor("agent:ana"))
        assert r.status_code == 201, r.text

        async def listed_macros(actor: str) -> list[str]:
            role, _, sub = actor.partition(":")
            r = await http.get(f"{mesa.url('projections')}/macros", headers=bearer(role, sub))  # type: ignore[arg-type]
            return [m["macro_id"] for m in r.json()]

        await eventually(
            lambda: _has(listed_macros("agent:ana"), {"pedido_en_camino", "nota_ana"}), timeout=30, what="macros listed"
        )
        assert "nota_ana" not in await listed_macros("agent:dani")
    t = await open_ticket(
        mesa,
        "maria.lopez@example.com",
        "¿Dónde está mi pedido?",
        "No llega.",
        order_id="PED-4321",
        category="order_status",
    )
    owner = f"agent:{t['owner']}"
    r = await act(mesa, t["id"], "apply-macro", sup, {"macro": "nota_ana"})
    assert r.status_code == 404  # another's own macro: as if it did not exist
    r = await act(mesa, t["id"], "apply-macro", owner, {"macro": "pedido_en_camino"})
    assert r.status_code == 200, r.text
    done = await mesa.ticket_when(t["id"], lambda t: t["status"] == "resolved", "resolved by the macro")
    types = [e["type"] for e in done["timeline"]]
    assert "ticket.macro_applied" in types and "ticket.tagged" in types
    resolution = done["resolution"]
    assert resolution.startswith("Hola Maria Lopez: tu pedido PED-4321") and t["id"] in resolution, resolution
    assert done["tags"] == ["en_camino"]
    # the customer gets the words, not the macro's name
    async with client("requester", "maria.lopez@example.com", timeout=10) as http:
        seen = (await http.get(f"{mesa.url('projections')}/tickets/{t['id']}")).json()
    assert not any(e["type"] == "ticket.macro_applied" for e in seen["timeline"])


async def _has(got: Any, wanted: set[str]) -> bool:
    return wanted <= set(await got)


async def test_custom_fields_are_defined_by_admins_validated_shown_and_found_by(staffed: Mesa) -> None:
    mesa = staffed
    async with client(timeout=10) as http:
        definitions = [
            {"id": "transportista", "label_es": "Transportista", "label_en": "Carrier", "kind": "list",
             "options": ["SEUR", "Correos", "MRW"], "categories": ["order_status"]},
            {"id": "importe", "label_es": "Importe", "label_en": "Amount", "kind": "number"},
            {"id": "fecha_entrega", "label_es": "Fecha de entrega", "label_en": "Delivery date", "kind": "date"},
        ]  # fmt: skip
        r = await http.post(f"{mesa.url('intake')}/fields", json=definitions[0], headers=as_actor("supervisor:sara"))
        assert r.status_code == 403  # administrators only
        for d in definitions:
            r = await http.post(f"{mesa.url('intake')}/fields", json=d, headers=bearer("admin", "root"))
            assert r.status_code == 201, r.text
    t = await open_ticket(mesa, "fede@example.com", "Pedido roto", "Llegó roto.", category="order_status")
    owner = f"agent:{t['owner']}"
    for wrong in ({"transportista": "UPS"}, {"importe": "doce"}, {"fecha_entrega": "31/12/2026"}, {"nada": "x"}):
        r = await act(mesa, t["id"], "fields", owner, {"values": wrong})
        assert r.status_code == 422, (wrong, r.text)
    r = await act(
        mesa,
        t["id"],
        "fields",
        owner,
        {"values": {"transportista": "SEUR", "importe": "12,50", "fecha_entrega": "2026-12-01"}},
    )
    assert r.status_code == 200, r.text
    seen = await mesa.ticket_when(t["id"], lambda t: t.get("fields"), "the fields in the view")
    assert seen["fields"] == {"transportista": "SEUR", "importe": "12.5", "fecha_entrega": "2026-12-01"}
    found = await listed(mesa, "supervisor:sara", field=["transportista:SEUR", "importe:12.5"])
    assert [i["id"] for i in found["items"]] == [t["id"]]
    r = await act(mesa, t["id"], "fields", owner, {"clear": ["importe"]})
    assert r.status_code == 200
    await mesa.ticket_when(t["id"], lambda t: "importe" not in t["fields"], "a value cleared")
    async with client(timeout=10) as http:
        fields = (await http.get(f"{mesa.url('projections')}/fields")).json()
    assert {f["field_id"] for f in fields} >= {"transportista", "importe", "fecha_entrega"}
    # the requester does not see staff fields
    async with client("requester", "fede@example.com", timeout=10) as http:
        mine = (await http.get(f"{mesa.url('projections')}/tickets/{t['id']}")).json()
    assert "fields" not in mine
