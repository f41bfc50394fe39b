"""deploy/kubernetes: every object valid against the Kubernetes schemas (kubernetes-validate, offline), and the
essentials consistent with the code: images, ports, Services and Ingress wiring, and environment names that
core/settings.py (or Rasa and our scripts) actually read. Not applied to a real cluster here."""
from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
K8S_VERSION = "1.30.0"

# read outside core/settings.py: Rasa and rasa-sdk, our scripts, and Rasa's endpoints file (${...})
OTHER_ENV = {"PYTHONPATH", "RASA_TELEMETRY_ENABLED", "TF_CPP_MIN_LOG_LEVEL", "TICKET_LOCK_LIFETIME", "ACTIONS_HOST",
             "ACTIONS_WEBHOOK_URL", "TRACKER_DB_HOST", "TRACKER_DB_PORT", "TRACKER_DB_NAME", "TRACKER_DB_USER",
             "TRACKER_DB_PASSWORD", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD"}


def settings_env() -> set[str]:
    text = (ROOT / "core" / "settings.py").read_text() + (ROOT / "knowledge" / "settings.py").read_text()
    return set(re.findall(r'_(?:env|int|fraction|float|bool|path)\(\s*"([A-Z0-9_]+)"', text))


def documents() -> list[dict]:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    docs = []
    for name in kustomization["resources"] + ["secret.example.yaml"]:
        docs += [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]
    return docs


def of_kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents() if d["kind"] == kind}


def test_every_object_is_valid_against_the_kubernetes_schemas():
    docs = documents()
    assert len(docs) >= 12
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises ValidationError naming the field


def test_the_validator_catches_a_broken_object():
    broken = of_kind("Deployment")["hotline-gateway"]
    broken["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": "eight thousand"}]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_three_tiers_with_images_ports_and_services_that_match():
    deployments, services = of_kind("Deployment"), of_kind("Service")
    assert set(deployments) == {"hotline-gateway", "hotline-rasa", "hotline-actions"}
    for name, deployment in deployments.items():
        assert deployment["spec"]["replicas"] >= 2, name
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert re.match(r"^[\w.\-/]+:[\w.\-]+$", container["image"]), container["image"]
        assert container["readinessProbe"] and container["livenessProbe"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        service = services[name]
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        assert all(p["targetPort"] in ports for p in service["spec"]["ports"]), name
    rasa_cmd = deployments["hotline-rasa"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "scripts/rasa_server.py" in rasa_cmd and rasa_cmd[rasa_cmd.index("--port") + 1] == "5005"
    gateway_cmd = deployments["hotline-gateway"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert gateway_cmd[gateway_cmd.index("--port") + 1] == "8000"

    # the URLs the gateway and Rasa are given point at the Services' ports
    settings = of_kind("ConfigMap")["hotline-settings"]["data"]
    assert settings["RASA_URL"] == f"http://hotline-rasa:{services['hotline-rasa']['spec']['ports'][0]['port']}"
    assert settings["ACTIONS_URL"] == f"http://hotline-actions:{services['hotline-actions']['spec']['ports'][0]['port']}"
    ingress = of_kind("Ingress")["hotline"]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "hotline-gateway"
    assert backend["port"]["name"] in {p["name"] for p in services["hotline-gateway"]["spec"]["ports"]}


def test_environment_names_are_ones_the_code_reads():
    known = settings_env() | OTHER_ENV
    assert {"DATABASE_URL", "EVENT_BUS_URL", "RATE_LIMIT_REDIS_URL", "SENDER_SECRET"} <= known
    config = of_kind("ConfigMap")["hotline-settings"]["data"]
    secret = of_kind("Secret")["hotline-secrets"]["stringData"]
    unknown = (set(config) | set(secret)) - known
    assert not unknown, f"names nothing reads: {sorted(unknown)}"
    for deployment in of_kind("Deployment").values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            names = {e["name"] for e in container.get("env", [])}
            assert not names - known - {"HOST", "PORT"}, names
            refs = {next(iter(r.values()))["name"] for r in container["envFrom"]}
            assert refs == {"hotline-settings", "hotline-secrets"}
    # scale-out needs the shared stores, and one conversation secret for every gateway replica
    for name in ("DATABASE_URL", "TRACKER_DB_URL", "EVENT_BUS_URL", "RATE_LIMIT_REDIS_URL", "SENDER_SECRET"):
        assert name in secret
    assert secret["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert secret["EVENT_BUS_URL"].startswith("redis://")


def test_rasa_endpoints_use_postgres_privacy_store_redis_locks_and_defined_variables():
    endpoints_text = of_kind("ConfigMap")["hotline-rasa-endpoints"]["data"]["endpoints.yml"]
    endpoints = yaml.safe_load(endpoints_text)
    assert endpoints["tracker_store"]["type"] == "scripts.rasa_tracker_store.PrivacySQLTrackerStore"
    assert endpoints["tracker_store"]["dialect"] == "postgresql"
    assert endpoints["lock_store"]["type"] == "redis"
    defined = set(of_kind("ConfigMap")["hotline-settings"]["data"]) | set(of_kind("Secret")["hotline-secrets"]["stringData"])
    assert set(re.findall(r"\$\{([A-Z0-9_]+)\}", endpoints_text)) <= defined
