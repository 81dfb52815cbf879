"""The SLA policy file: the example in deploy/ is valid, and mistakes are refused clearly."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from services.sla.policy import DEFAULT_POLICY, Policy, load_policy
from shared.domain.events.catalogue import Priority


def test_the_shipped_policy_is_valid_and_tighter_for_more_urgent_tickets() -> None:
    policy = load_policy()
    order = [Priority.P1, Priority.P2, Priority.P3, Priority.P4]
    firsts = [policy.priorities[p].first_response for p in order]
    assert firsts == sorted(firsts) and firsts[0] == timedelta(hours=1)
    assert policy.calendar("24x7").always
    assert policy.calendar(policy.priorities[Priority.P2].calendar).timezone == "Europe/Madrid"
    assert [s.to_level for s in policy.escalation] == [2, 3]


def _doc() -> dict:  # type: ignore[type-arg]
    doc: dict = yaml.safe_load(DEFAULT_POLICY.read_text())  # type: ignore[type-arg]
    return doc


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["priorities"].pop("P3"), "no targets for"),
        (lambda d: d["priorities"]["P1"].update(calendar="luna"), "not defined"),
        (lambda d: d["priorities"]["P1"].update(resolution="cuatro horas"), "not a duration"),
        (lambda d: d["calendars"]["oficina-madrid"]["hours"].update(lun=["09:00-10:00"]), "unknown weekdays"),
        (lambda d: d.update(warn_at=[1.5]), "less than 1"),
    ],
)
def test_mistakes_in_the_policy_are_refused_with_a_reason(change: object, message: str) -> None:
    doc = _doc()
    change(doc)  # type: ignore[operator]
    with pytest.raises((ValidationError, ValueError), match=message):
        Policy.model_validate(doc)


def test_small_targets_for_demos_and_tests(tmp_path: Path) -> None:
    doc = _doc()
    doc["priorities"]["P1"] = {"first_response": 90, "resolution": "2m", "calendar": "24x7"}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc))
    policy = load_policy(path)
    assert policy.priorities[Priority.P1].first_response == timedelta(seconds=90)
    assert policy.priorities[Priority.P1].resolution == timedelta(minutes=2)
