"""The report's arithmetic, on hand-made tickets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.projections.report import Row, compliance, summarise, to_csv

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)
H = timedelta(hours=1)


def row(i: int, **kw: object) -> Row:
    base: dict[str, object] = {
        "id": f"T-{i}",
        "priority": "P1",
        "category": "hardware",
        "owner": "ana",
        "teams": ("soporte",),
        "status": "assigned",
        "opened_at": T0,
        "first_response_due": T0 + H,
        "first_response_at": None,
        "resolved_at": None,
        "breached": (),
        "reopen_count": 0,
        "rating": None,
        "first_response_target": H,
        "resolution_target": 8 * H,
    }
    return Row(**(base | kw))  # type: ignore[arg-type]


def test_compliance_counts_only_what_was_measured() -> None:
    rows = [
        row(1, first_response_at=T0 + H / 2),  # met
        row(2, first_response_at=T0 + 2 * H, breached=("first_response",)),  # missed
        row(3),  # not answered yet, not breached: not measured
        row(4, resolved_at=T0 + 4 * H, first_response_at=T0 + H / 4),  # resolved in time
        row(5, breached=("resolution",)),  # resolution missed
    ]
    c = compliance(rows)
    assert (c["first_response_met_pct"], c["first_response_measured"]) == (66.7, 3)
    assert (c["resolution_met_pct"], c["resolution_measured"]) == (50.0, 2)


def test_summary_groups_times_backlog_csat_and_escalations() -> None:
    rows = [
        row(1, first_response_at=T0 + H, resolved_at=T0 + 3 * H, status="closed", rating=5, owner="ana"),
        row(2, first_response_at=T0 + 3 * H, resolved_at=T0 + 9 * H, status="closed", rating=3, reopen_count=1),
        row(3, priority="P3", category="network", owner=None, teams=(), opened_at=T0 - timedelta(days=5)),
    ]
    now = T0 + timedelta(days=1)
    s = summarise(
        rows,
        now=now,
        names={"ana": "Ana Torres"},
        escalations=[(2, "Objetivo de resolución incumplido"), (2, "Objetivo de resolución incumplido")],
        deflections=[{"id": 1, "title": "Devoluciones", "deflections": 4}],
    )
    assert s["tickets"] == 3
    assert set(s["by_priority"]) == {"P1", "P3"} and s["by_priority"]["P1"]["tickets"] == 2
    assert set(s["by_agent"]) == {"Ana Torres", "(sin asignar)"}
    assert set(s["by_team"]) == {"soporte", "(sin equipo)"}
    assert s["times"]["P1"]["first_response_hours"] == {"median": 2.0, "p90": 3.0, "n": 2}
    assert s["times"]["P1"]["first_response_target_hours"] == 1.0
    assert s["times"]["P1"]["resolution_hours"]["median"] == 6.0
    assert s["backlog"] == {"open": 1, "ages": {"<1d": 0, "1-3d": 0, "3-7d": 1, ">7d": 0}, "oldest_days": 6.0}
    assert s["reopen_rate_pct"] == 50.0
    assert s["csat"] == {"responses": 2, "average": 4.0, "distribution": {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1}}
    assert s["escalations"]["count"] == 2 and s["escalations"]["by_level"] == {"2": 2}
    assert s["escalations"]["top_reasons"] == [{"reason": "Objetivo de resolución incumplido", "count": 2}]
    csv_text = to_csv({"from": "a", "to": "b", **s})
    assert "csat,distribution,5,1" in csv_text and "deflections,Devoluciones,count,4" in csv_text


def test_an_empty_period_reports_nothing_rather_than_failing() -> None:
    s = summarise([], now=T0, names={}, escalations=[], deflections=[])
    assert s["tickets"] == 0 and s["overall"]["first_response_met_pct"] is None and s["csat"]["average"] is None


def test_a_period_of_days_includes_the_last_day_and_defaults_to_thirty() -> None:
    from services.projections.report import period

    now = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    assert period("2026-11-01", "2026-11-30", now) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert period(None, None, now) == (now - timedelta(days=30), now)
    assert period("2026-11-20T10:00Z", "2026-11-21T10:00:00+00:00", now)[1] == datetime(2026, 11, 21, 10, tzinfo=UTC)


def test_tags_and_custom_fields_are_reported_against_the_targets() -> None:
    late = {"first_response_at": T0 + 2 * H, "breached": ("first_response",)}
    rows = [
        row(1, tags=("seur",), fields=(("motivo", "talla"),), first_response_at=T0 + H / 2),
        row(2, tags=("seur", "vip"), fields=(("motivo", "defecto"),), **late),
        row(3),
    ]
    r = summarise(rows, now=T0, names={}, escalations=[], deflections=[])
    assert r["by_tag"]["seur"]["tickets"] == 2 and r["by_tag"]["vip"]["tickets"] == 1
    assert r["by_field"]["motivo: talla"]["first_response_met_pct"] == 100.0
    assert r["by_field"]["motivo: defecto"]["first_response_met_pct"] == 0.0
    assert "by_field,motivo: talla,tickets,1" in to_csv({"from": "a", "to": "b", **r}).replace("\r\n", "\n")


def test_tickets_closed_without_the_customers_word_are_counted_apart() -> None:
    rows = [
        row(1, status="closed", closed_how="confirmed"),
        row(2, status="closed", closed_how="auto"),
        row(3, status="closed", closed_how="auto"),
        row(4, status="closed", closed_how="merged"),
        row(5),
    ]
    r = summarise(rows, now=T0, names={}, escalations=[], deflections=[])
    assert r["closing"] == {"confirmed": 1, "auto": 2, "merged": 1, "other": 0}
    assert "closing,auto,tickets,2" in to_csv({"from": "a", "to": "b", **r}).replace("\r\n", "\n")


def test_how_a_ticket_closed_is_read_from_its_state_and_reason() -> None:
    from services.projections.report import _closed_how

    assert _closed_how("resolved", False, None, None) is None
    assert _closed_how("closed", True, None, "resolution confirmed") == "confirmed"
    assert _closed_how("closed", False, None, "auto") == "auto"
    assert _closed_how("closed", False, "T-00000001", None) == "merged"
    assert _closed_how("closed", False, None, "withdrawn") == "other"
