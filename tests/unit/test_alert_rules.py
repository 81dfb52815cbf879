"""The alerting rules and the generated configuration, checked by the tools that run them:
`promtool check rules`, `promtool test rules` (ops/prometheus/tests), `promtool check config` and
`amtool check-config`; and every alert has its runbook in docs/ops.md."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from ops.monitoring import RULES, Layout, render
from shared.platform.settings import Settings
from tests.support import ROOT


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    tool = shutil.which(str(args[0]))
    assert tool is not None, f"{args[0]} is missing: `make test` installs it (deploy/monitoring.sh install)"
    done = subprocess.run([tool, *map(str, args[1:])], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def _alerts() -> list[dict[str, object]]:
    rules = yaml.safe_load((RULES / "mesa.yml").read_text())
    return [r for g in rules["groups"] for r in g["rules"] if "alert" in r]


def test_the_rules_are_valid_and_their_tests_pass() -> None:
    assert "SUCCESS" in _run("promtool", "check", "rules", RULES / "mesa.yml")
    assert "SUCCESS" in _run("promtool", "test", "rules", "tests/mesa_test.yml", cwd=RULES.parent)


def test_every_alert_is_unit_tested_and_has_a_runbook() -> None:
    tested = (RULES.parent / "tests" / "mesa_test.yml").read_text()
    ops = (ROOT / "docs" / "ops.md").read_text()
    anchors = {re.sub(r"[^a-z0-9]", "", h.lower()) for h in re.findall(r"(?m)^#+ (.+)$", ops)}
    for alert in _alerts():
        name = str(alert["alert"])
        assert f"alertname: {name}" in tested, f"{name} has no promtool test"
        runbook = str(alert["annotations"]["runbook"])  # type: ignore[index]
        assert runbook == f"docs/ops.md#{name.lower()}" and name.lower() in anchors, f"{name}: no runbook section"


def test_the_generated_configuration_is_what_prometheus_and_alertmanager_accept(tmp_path: Path) -> None:
    settings = Settings.model_validate({"NOTIFY_SUPERVISORS": "jefa@soporte.test, guardia@soporte.test"})
    render(
        Layout(services={"intake": 18081, "notify": 18084}, lagwatch=18089, alertmanager=19193, alert_for="2s"),
        settings,
        tmp_path,
    )
    assert "SUCCESS" in _run("promtool", "check", "config", tmp_path / "prometheus.yml")
    _run("amtool", "check-config", tmp_path / "alertmanager.yml")
    config = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    services = {c["labels"]["service"] for job in config["scrape_configs"] for c in job["static_configs"]}
    assert services == {"intake", "notify", "lagwatch"}
    shortened = (tmp_path / "rules" / "mesa.yml").read_text()
    assert re.findall(r"for: (\S+)", shortened) and set(re.findall(r"for: (\S+)", shortened)) == {"2s"}
    mail = yaml.safe_load((tmp_path / "alertmanager.yml").read_text())["receivers"][0]["email_configs"][0]
    assert mail["to"] == "jefa@soporte.test, guardia@soporte.test" and mail["send_resolved"] is True
    assert oct((tmp_path / "alertmanager.yml").stat().st_mode & 0o777) == "0o600"
