"""`python -m ops.k8s`: Kubernetes manifests for Mesa (deploy/k8s/), rendered from the topology.

One Deployment per service (probes on /healthz and /readyz, resources from the measured CPU per
ticket) and one KEDA ScaledObject per Deployment with a Kafka trigger per consumer group, which
scales on the group's lag as the broker sees it (the services commit their positions to Kafka
for this). Documented and checked (tests/unit/test_k8s.py), not run here: there is no cluster.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer
import yaml

from shared.platform.topics import AGENT_EVENTS, AUDIT_ACCESS, TICKET_EVENTS, TICKET_REQUESTS, WORKSPACE_EVENTS
from shared.platform.topology import STATIONS

OUT = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
IMAGE = "registry.example.com/mesa:latest"
BOOTSTRAP = "kafka-0.kafka:9092,kafka-1.kafka:9092,kafka-2.kafka:9092"
PARTITIONS = 12  # MESA_TOPIC_PARTITIONS: more instances than partitions would idle

# Each service's consumer groups (`Settings.group(service, group)`) and the topic each reads.
GROUPS: dict[str, list[tuple[str, str]]] = {
    "intake": [("events", TICKET_EVENTS), ("agents", AGENT_EVENTS), ("requests", TICKET_REQUESTS)],
    "routing": [("tickets", TICKET_EVENTS), ("agents", AGENT_EVENTS)],
    "sla": [("main", TICKET_EVENTS)],
    "notify": [("tickets", TICKET_EVENTS), ("agents", AGENT_EVENTS), ("workspace", WORKSPACE_EVENTS)],
    "projections": [("tickets", TICKET_EVENTS), ("agents", AGENT_EVENTS), ("workspace", WORKSPACE_EVENTS)],
    "audit": [("chain", TICKET_EVENTS), ("access", AUDIT_ACCESS)],
    "mailin": [],
}

# CPU per ticket, whole stack under 50 clients (docs/scaling.md, issue 22 round); mailin is not
# on a ticket's path (its cost is per inbound mail).
MS_PER_TICKET = {"intake": 3.7, "routing": 2.4, "sla": 2.3, "notify": 5.4, "projections": 2.3, "audit": 1.6}
EVENTS_PER_TICKET = 7  # ticket.events records a ticket writes on its way (opened ... closed)
CORE_BUSY = 0.7  # an instance is sized to keep its core at most this busy
DRAIN_S = 5  # a lag one instance clears in this long is its fair share


def lag_threshold(service: str) -> int:
    """Records one instance applies in DRAIN_S at CORE_BUSY: KEDA adds an instance per this much
    lag (it divides the group's lag by it)."""
    tickets_per_s = CORE_BUSY * 1000 / MS_PER_TICKET.get(service, 2.0)
    return int(math.ceil(tickets_per_s * EVENTS_PER_TICKET * DRAIN_S / 100) * 100)


def deployment(name: str, port: int) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/healthz", "port": port}, "periodSeconds": 10, "failureThreshold": 3}
    ready = {"httpGet": {"path": "/readyz", "port": port}, "periodSeconds": 5, "failureThreshold": 2}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"mesa-{name}", "labels": {"app": f"mesa-{name}"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": f"mesa-{name}"}},
            "template": {
                "metadata": {"labels": {"app": f"mesa-{name}"}},
                "spec": {
                    # SIGTERM: the service finishes its batch and leaves its groups (shared.platform.runtime)
                    "terminationGracePeriodSeconds": 30,
                    "containers": [
                        {
                            "name": name,
                            "image": IMAGE,
                            "command": ["python", "-m", f"services.{name}"],
                            "ports": [{"containerPort": port, "name": "http"}],
                            "envFrom": [
                                {"configMapRef": {"name": "mesa-config"}},
                                {"secretRef": {"name": "mesa-secrets"}},
                            ],
                            "env": [
                                {
                                    "name": f"{name.upper()}_DATABASE_URL",
                                    "valueFrom": {"secretKeyRef": {"name": "mesa-databases", "key": name}},
                                }
                            ],
                            "livenessProbe": probe,
                            "readinessProbe": ready,
                            # single-threaded asyncio processes: more instances, not bigger ones
                            "resources": {
                                "requests": {"cpu": "500m", "memory": "256Mi"},
                                "limits": {"cpu": "1", "memory": "512Mi"},
                            },
                            "volumeMounts": [
                                {
                                    "name": "kafka",
                                    "mountPath": f"/run/mesa/kafka/{name}.properties",
                                    "subPath": f"{name}.properties",
                                    "readOnly": True,
                                },
                                {
                                    "name": "signing",
                                    "mountPath": f"/run/mesa/signing/{name}.key",
                                    "subPath": f"{name}.key",
                                    "readOnly": True,
                                },
                                {
                                    "name": "signing",
                                    "mountPath": "/run/mesa/signing/trust.json",
                                    "subPath": "trust.json",
                                    "readOnly": True,
                                },
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "kafka", "secret": {"secretName": "mesa-kafka-principals"}},
                        {"name": "signing", "secret": {"secretName": "mesa-signing"}},
                    ],
                },
            },
        },
    }


def scaled_object(name: str) -> dict[str, Any] | None:
    groups = GROUPS[name]
    if not groups:
        return None
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": f"mesa-{name}"},
        "spec": {
            "scaleTargetRef": {"name": f"mesa-{name}"},
            "minReplicaCount": 2,
            "maxReplicaCount": PARTITIONS,
            "cooldownPeriod": 300,
            "triggers": [
                {
                    "type": "kafka",
                    "metadata": {
                        "bootstrapServers": BOOTSTRAP,
                        "consumerGroup": f"mesa.{name}.{group}",
                        "topic": topic,
                        "lagThreshold": str(lag_threshold(name)),
                        "offsetResetPolicy": "earliest",
                        "sasl": "scram_sha512",
                        "tls": "disable",
                    },
                    "authenticationRef": {"name": "mesa-kafka-monitor"},
                }
                for group, topic in groups
            ],
        },
    }


def manifests() -> dict[str, str]:
    """File name -> YAML text."""
    header = "# Rendered by `python -m ops.k8s` from shared/platform/topology.py; edit that, not this.\n"
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "mesa-config"},
        # secrets (MESA_JWT_SECRET, MESA_MASTER_KEY, MESA_AUDIT_SIGNING_KEY) are in `mesa-secrets`,
        # each service's database URL in `mesa-databases` (a key per service: one server or many)
        "data": {
            "KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
            "MESA_HTTP_HOST": "0.0.0.0",
            "MESA_KAFKA_CREDENTIALS": "/run/mesa/kafka",
            "MESA_SIGNING_DIR": "/run/mesa/signing",
            "MESA_TOPIC_PARTITIONS": str(PARTITIONS),
            "MESA_ENV": "production",
        },
    }
    services = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"mesa-{s.name}"},
            "spec": {"selector": {"app": f"mesa-{s.name}"}, "ports": [{"port": s.port, "targetPort": s.port}]},
        }
        for s in STATIONS
    ]
    deployments = [config, *(deployment(s.name, s.port) for s in STATIONS), *services]
    scalers = [o for o in (scaled_object(s.name) for s in STATIONS) if o is not None]
    auth = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        # the `monitor` principal: it may describe topics and groups and read nothing (acls.py)
        "metadata": {"name": "mesa-kafka-monitor"},
        "spec": {
            "secretTargetRef": [
                {"parameter": "username", "name": "mesa-kafka-monitor", "key": "username"},
                {"parameter": "password", "name": "mesa-kafka-monitor", "key": "password"},
            ]
        },
    }
    return {
        "services.yaml": header + yaml.safe_dump_all(deployments, sort_keys=False),
        "keda.yaml": header + yaml.safe_dump_all([auth, *scalers], sort_keys=False),
    }


def main(out: Path = OUT) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, text in manifests().items():
        (out / name).write_text(text)
        print(out / name)


if __name__ == "__main__":
    typer.run(main)
