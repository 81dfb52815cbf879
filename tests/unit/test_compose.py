"""docker-compose.yml cannot run here (no Docker engine); keep it honest by checking it says the
same things as `make up`: every service, its module, the variables the settings read."""

from __future__ import annotations

from pathlib import Path

import yaml

from shared.platform.settings import Settings
from shared.platform.topology import STATIONS
from tests.support import ROOT

SERVICES = tuple(s.name for s in STATIONS)


def test_compose_runs_every_service_with_the_same_commands_and_variables() -> None:
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = doc["services"]
    assert {"kafka", "postgres", "topics", "mailsink", *SERVICES} <= set(services)
    # nothing else that runs Mesa code: a service compose knows is one the topology knows
    runs_mesa = {n for n, s in services.items() if str(s.get("command", "")).startswith("['python', '-m', 'services.")}
    assert runs_mesa == {*SERVICES, "mailsink"}
    read_by_settings = {f.validation_alias for f in Settings.model_fields.values()}
    for name in SERVICES:
        svc = services[name]
        assert svc["command"] == ["python", "-m", f"services.{name}"]
        assert (ROOT / "services" / name / "__main__.py").exists()
        station = next(s for s in STATIONS if s.name == name)
        if "ports" in svc:  # published on the port the topology gives it
            assert f"{station.port}:{station.port}" in svc["ports"]
        env = svc["environment"]
        assert {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "MESA_HTTP_HOST"} <= set(env)
        assert {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"} <= read_by_settings
        assert str(svc["deploy"]["replicas"]).startswith("${")
    assert "mesa topics create" in services["topics"]["command"][0]
    # the broker as make up runs it: formatted with SCRAM users, only credentials get in
    assert services["kafka"]["entrypoint"] == ["bash", "/mesa/deploy/kafka.sh", "compose"]
    assert "deploy/kafka.sh credentials" in services["secrets"]["command"][0]
    for name in SERVICES:  # each service sees its own credentials and key, and the public trust
        mounts = {m["target"] for m in services[name]["volumes"]}
        assert mounts == {
            f"/run/mesa/kafka/{name}.properties",
            f"/run/mesa/signing/{name}.key",
            "/run/mesa/signing/trust.json",
        }, name
        assert all(m["read_only"] for m in services[name]["volumes"])
    kafka_image = services["kafka"]["image"]
    pom = (ROOT / "deploy" / "kafka" / "pom.xml").read_text()
    assert kafka_image.split(":")[1] in pom, "compose and deploy/ pin the same Kafka version"


def test_the_image_installs_the_project() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install" in dockerfile and "COPY services" in dockerfile
    assert Path(ROOT / "pyproject.toml").exists()


def test_every_service_is_declared_once_and_the_same_everywhere() -> None:
    from services.registry import SPECS

    assert list(SPECS) == list(SERVICES)
    for name, spec in SPECS.items():
        assert spec.station.module == f"services.{name}"
        assert spec.migrations == ROOT / "services" / name / "migrations"
        assert spec.migrations.is_dir()
    services_sh = (ROOT / "deploy" / "services.sh").read_text()
    assert "shared.platform.topology" in services_sh and "projections:" not in services_sh
