"""deploy/k8s/ cannot run here (no Kubernetes); keep it honest: rendered from the topology, a
Deployment with probes per service, and a KEDA trigger for every consumer group the code makes."""

from __future__ import annotations

import re

import yaml

from ops.k8s import GROUPS, OUT, lag_threshold, manifests
from shared.platform.topology import STATIONS
from tests.support import ROOT


def test_the_committed_manifests_are_the_rendered_ones() -> None:
    for name, text in manifests().items():
        assert (OUT / name).read_text() == text, f"deploy/k8s/{name} is stale: python -m ops.k8s"


def test_every_service_has_a_deployment_with_probes_on_its_port() -> None:
    docs = list(yaml.safe_load_all((OUT / "services.yaml").read_text()))
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == {f"mesa-{s.name}" for s in STATIONS}
    for s in STATIONS:
        [container] = deployments[f"mesa-{s.name}"]["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["python", "-m", s.module]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": s.port}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": s.port}
        assert {e["name"] for e in container["env"]} == {f"{s.name.upper()}_DATABASE_URL"}


def groups_in_code(service: str) -> list[str]:
    """The consumer groups `services/<service>/service.py` makes (`group=` or the default)."""
    source = (ROOT / "services" / service / "service.py").read_text()
    calls = source.split("rt.consumer(")[1:]
    return sorted(
        m.group(1) if (m := re.search(r'group="([a-z]+)"', c.split("rt.consumer(")[0])) else "main" for c in calls
    )


def test_a_trigger_for_every_consumer_group_the_services_make() -> None:
    docs = list(yaml.safe_load_all((OUT / "keda.yaml").read_text()))
    scaled = {d["spec"]["scaleTargetRef"]["name"]: d for d in docs if d["kind"] == "ScaledObject"}
    for s in STATIONS:
        assert sorted(g for g, _ in GROUPS[s.name]) == groups_in_code(s.name), s.name
        if not GROUPS[s.name]:
            assert f"mesa-{s.name}" not in scaled
            continue
        triggers = scaled[f"mesa-{s.name}"]["spec"]["triggers"]
        assert {t["metadata"]["consumerGroup"] for t in triggers} == {f"mesa.{s.name}.{g}" for g, _ in GROUPS[s.name]}
        assert all(t["metadata"]["lagThreshold"] == str(lag_threshold(s.name)) for t in triggers)


def test_a_costlier_service_gets_a_smaller_lag_share() -> None:
    assert lag_threshold("notify") < lag_threshold("routing") < lag_threshold("audit")
