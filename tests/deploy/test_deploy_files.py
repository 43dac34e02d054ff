"""deploy/: the Prometheus rules and config pass promtool (rule unit tests included), every metric the alerts and
the Grafana dashboard use is one the app exposes, and the compose file and Kubernetes manifests keep web, stream and
worker separately scalable with probes and resources."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from app.paths import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
# Series Prometheus itself makes; everything else must come from the app.
PROMETHEUS_SERIES = {"up"}
PROMQL_WORDS = {
    "sum",
    "max",
    "min",
    "by",
    "rate",
    "clamp_min",
    "histogram_quantile",
    "le",
    "outcome",
    "stream",
    "group",
    "kind",
    "alert",
    "job",
    "task",
    "endpoint",
    "status",
    "instance",
    "event_type",
    "on",
    "without",
    "increase",
}


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is needed for these checks: apt-get install prometheus (scripts/test does it when root)"
    return found


def metric_names(expression: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers outside label matchers, strings and durations."""
    stripped = re.sub(r"\{[^}]*\}|\"[^\"]*\"|\[[^\]]*\]", " ", expression)
    stripped = re.sub(r"(?<![A-Za-z0-9_:])\d[\d.]*(?:e[-+]?\d+)?", " ", stripped)  # numbers such as 1e-9
    return {word for word in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", stripped) if word not in PROMQL_WORDS}


@pytest.fixture
def exposed(client, worker_huey) -> set[str]:  # type: ignore[no-untyped-def]
    """Every series name /monitoring/metrics can carry, read from a real scrape."""
    response = client.get("/monitoring/metrics")
    assert response.status_code == 200
    names = set(PROMETHEUS_SERIES)
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}.get(family.type, [""])
        names.update(family.name + suffix for suffix in suffixes)
    return names


def alert_rules() -> list[dict]:
    return [
        rule
        for group in yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    ]


def test_promtool_accepts_the_rules_and_their_unit_tests_pass() -> None:
    check = subprocess.run(
        [promtool(), "check", "rules", str(DEPLOY / "prometheus/alerts.yml")], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run(
        [promtool(), "test", "rules", str(DEPLOY / "prometheus/alerts_test.yml")], capture_output=True, text=True
    )
    assert unit.returncode == 0 and "SUCCESS" in unit.stdout, unit.stdout + unit.stderr


def test_promtool_accepts_the_scrape_config(tmp_path: Path) -> None:
    config = tmp_path / "prometheus"
    shutil.copytree(DEPLOY / "prometheus", config)
    (config / "secrets").mkdir(exist_ok=True)
    (config / "secrets/monitoring_token").write_text("a-token\n")
    check = subprocess.run(
        [promtool(), "check", "config", str(config / "prometheus.yml")], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_seed_thresholds_are_alerts() -> None:
    expressions = {rule["alert"]: " ".join(rule["expr"].split()) for rule in alert_rules()}
    assert expressions["LoyaltyHighErrorRate"].endswith("> 0.05")
    assert expressions["LoyaltySlowProcessing"].endswith("> 1")
    assert expressions["LoyaltyStreamLag"].endswith("> 1000")
    assert expressions["LoyaltyWebhookFailures"].endswith("> 0.10")


def test_every_metric_the_alerts_use_is_exposed(exposed) -> None:  # type: ignore[no-untyped-def]
    used = set().union(*(metric_names(rule["expr"]) for rule in alert_rules()))
    assert used - exposed == set()
    assert {"loyalty_events_total", "loyalty_stream_lag", "loyalty_outbound_webhook_deliveries_total"} <= used


def test_every_dashboard_panel_queries_metrics_the_app_exposes(exposed) -> None:  # type: ignore[no-untyped-def]
    dashboard = json.loads((DEPLOY / "grafana/dashboards/loyalty.json").read_text())
    datasource = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    panels = dashboard["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid
            missing = metric_names(target["expr"]) - exposed
            assert missing == set(), (
                f"panel {panel['title']!r} queries {sorted(missing)}, which the app does not expose"
            )
    titles = " ".join(panel["title"] for panel in panels)
    for subject in ("Events processed per second", "Rule evaluation", "Error rate", "Stream lag", "webhook"):
        assert subject in titles


def test_metric_names_are_read_from_promql() -> None:
    expression = 'sum(rate(loyalty_events_total{outcome=~"a|b"}[5m])) / clamp_min(sum(rate(other_total[5m])), 1e-9)'
    assert metric_names(expression) == {"loyalty_events_total", "other_total"}


def test_compose_runs_each_process_as_its_own_scalable_service() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "stream", "worker", "postgres", "redis", "prometheus", "grafana", "release"} <= set(services)
    for name in ("stream", "worker"):
        service = services[name]
        assert "ports" not in service and "container_name" not in service  # `--scale stream=4` needs neither
        assert service["environment"]["LOYALTY_METRICS_PORT"] == "9100"
    assert services["stream"]["command"] == ["flask", "--app", "app", "stream", "run"]
    assert services["worker"]["command"][0] == "huey_consumer"
    assert services["web"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in services["grafana"]["volumes"]
    assert services["release"]["command"] == ["flask", "--app", "app", "db", "upgrade"]


def kubernetes_documents() -> dict[tuple[str, str], dict]:
    documents = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and "kind" in document and document["kind"] != "Kustomization":
                documents[(document["kind"], document["metadata"]["name"])] = document
    return documents


def test_kubernetes_deploys_web_stream_and_worker_with_probes_resources_and_a_lag_autoscaler() -> None:
    documents = kubernetes_documents()
    for component in ("web", "stream", "worker"):
        (container,) = documents[("Deployment", f"loyalty-{component}")]["spec"]["template"]["spec"]["containers"]
        assert container["resources"]["requests"] and container["resources"]["limits"]
        assert container["livenessProbe"]
    web = documents[("Deployment", "loyalty-web")]["spec"]["template"]["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"]["path"] == "/monitoring/health"
    assert web["livenessProbe"]["httpGet"]["path"] == "/monitoring/health"
    hpa = documents[("HorizontalPodAutoscaler", "loyalty-stream")]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "loyalty-stream"
    assert hpa["metrics"][0]["external"]["metric"]["name"] == "loyalty_stream_lag"
    kustomization = yaml.safe_load((DEPLOY / "kubernetes/kustomization.yaml").read_text())
    assert "secret.example.yaml" not in kustomization["resources"]  # real secrets are never in the repository
