"""Prometheus's and Alertmanager's configuration, generated from the one list of services
(shared.platform.topology), so a new service is scraped without anyone editing a file.

    python -m ops.monitoring render DIR     # DIR/prometheus.yml, DIR/alertmanager.yml, DIR/rules/

`deploy/monitoring.sh` renders into .local/monitoring and starts both; the tests render their own
(ports of their own, seconds instead of minutes). Alertmanager mails the supervisors
(NOTIFY_SUPERVISORS) through the SMTP server notify uses (NOTIFY_SMTP_HOST/PORT): the same path.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shared.platform.settings import Settings
from shared.platform.topology import STATIONS

RULES = Path(__file__).parent / "prometheus" / "rules"
LAGWATCH_PORT = 8089


@dataclass(frozen=True)
class Layout:
    """Where everything listens, and how fast Prometheus looks (seconds in tests)."""

    services: dict[str, int]  # service -> its HTTP port (/metrics)
    lagwatch: int
    alertmanager: int
    scrape_interval: str = "5s"
    evaluation_interval: str = "5s"
    # tests shorten every alert's `for:` to this (what fires is the same expression)
    alert_for: str | None = None


def prometheus_config(layout: Layout, rule_files: list[Path]) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": layout.scrape_interval, "evaluation_interval": layout.evaluation_interval},
        "rule_files": [str(p) for p in rule_files],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{layout.alertmanager}"]}]}]},
        "scrape_configs": [
            {
                "job_name": "mesa",
                "static_configs": [
                    {"targets": [f"127.0.0.1:{port}"], "labels": {"service": name}}
                    for name, port in sorted(layout.services.items())
                ],
            },
            {
                "job_name": "lagwatch",
                "static_configs": [{"targets": [f"127.0.0.1:{layout.lagwatch}"], "labels": {"service": "lagwatch"}}],
            },
        ],
    }


# what the supervisors read: the alert, what it concerns, its summary (Spanish / English) and
# where its runbook is; a plain-text part beside Alertmanager's HTML one
_SUBJECT = (
    "[Mesa] {{ .Status | toUpper }}: {{ .CommonLabels.alertname }}"
    "{{ with .CommonLabels.service }} {{ . }}{{ end }}{{ with .CommonLabels.group }} {{ . }}{{ end }}"
)
_TEXT = (
    "{{ range .Alerts }}{{ .Status | toUpper }}: {{ .Annotations.summary }}\n"
    "{{ range .Labels.SortedPairs }}  {{ .Name }}: {{ .Value }}\n{{ end }}"
    "  runbook: {{ .Annotations.runbook }}\n  desde / since: {{ .StartsAt }}\n\n{{ end }}"
)


def alertmanager_config(settings: Settings, *, group_wait: str = "30s", group_interval: str = "5m") -> dict[str, Any]:
    to = ", ".join(a.strip() for a in settings.supervisors.split(",") if a.strip())
    email: dict[str, Any] = {
        "to": to,
        "from": f"alertas@{settings.mail_domain}",
        "smarthost": f"{settings.smtp_host}:{settings.smtp_port}",
        "require_tls": settings.smtp_starttls,
        "send_resolved": True,
        "headers": {"Subject": _SUBJECT},
        "text": _TEXT,
    }
    if settings.smtp_username:
        email["auth_username"] = settings.smtp_username
        email["auth_password"] = settings.smtp_password or ""
    return {
        "route": {
            "receiver": "supervisors",
            "group_by": ["alertname", "service", "group"],
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": "4h",
        },
        "receivers": [{"name": "supervisors", "email_configs": [email]}],
    }


def rules_for(alert_for: str | None, into: Path) -> list[Path]:
    """The rule files, as they are; or copies with every `for:` set to `alert_for`."""
    files = sorted(RULES.glob("*.yml"))
    if alert_for is None:
        return files
    into.mkdir(parents=True, exist_ok=True)
    out = []
    for f in files:
        text = re.sub(r"(?m)^(\s+)for: .*$", rf"\1for: {alert_for}", f.read_text())
        (into / f.name).write_text(text)
        out.append(into / f.name)
    return out


def render(
    layout: Layout, settings: Settings, into: Path, *, group_wait: str = "30s", group_interval: str = "5m"
) -> None:
    into.mkdir(parents=True, exist_ok=True)
    rules = rules_for(layout.alert_for, into / "rules")
    (into / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config(layout, rules), sort_keys=False))
    am = into / "alertmanager.yml"
    am.write_text(yaml.safe_dump(alertmanager_config(settings, group_wait=group_wait, group_interval=group_interval)))
    am.chmod(0o600)  # it may hold the SMTP password


def layout_from_environment(settings: Settings) -> Layout:
    return Layout(
        services={s.name: settings.port(s.name) for s in STATIONS},
        lagwatch=int(os.environ.get("MESA_LAGWATCH_PORT", LAGWATCH_PORT)),
        alertmanager=int(os.environ.get("ALERTMANAGER_PORT", 9193)),
        scrape_interval=os.environ.get("PROMETHEUS_SCRAPE_INTERVAL", "5s"),
        evaluation_interval=os.environ.get("PROMETHEUS_SCRAPE_INTERVAL", "5s"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["render"])
    parser.add_argument("into", type=Path)
    args = parser.parse_args()
    settings = Settings()
    render(layout_from_environment(settings), settings, args.into)


if __name__ == "__main__":
    main()
