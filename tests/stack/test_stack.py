"""``llm-observatory stack init`` writes a stack that passes static checks: the compose file
against the Compose Specification's JSON schema (``compose_spec.json``, from the specification's
2021 release as shipped in docker-compose 1.29), every ``depends_on`` resolving, every variable
coming from ``.env``, ``promtool check config`` on the Prometheus config, and the OTel Collector
config's pipelines referencing only defined components of the contrib distribution."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from llm_observatory.cli import main as cli

#: Component types of the otelcol-contrib distribution that a config may use (a subset of its
#: manifest, distributions/otelcol-contrib/manifest.yaml, v0.136.0).
CONTRIB = {
    "receivers": {"otlp", "prometheus", "filelog", "hostmetrics", "jaeger", "zipkin", "nop"},
    "processors": {"batch", "memory_limiter", "attributes", "filter", "redaction", "resource", "tail_sampling",
                   "probabilistic_sampler", "transform", "k8sattributes", "groupbytrace", "span"},
    "exporters": {"otlp", "otlphttp", "debug", "nop", "prometheus", "prometheusremotewrite", "loadbalancing",
                  "file", "kafka", "zipkin"},
    "extensions": {"health_check", "pprof", "zpages", "bearertokenauth", "basicauth", "file_storage"},
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("stack")
    assert cli(["stack", "init", str(target)]) == 0
    return target


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_init_writes_every_file_and_refuses_to_overwrite(stack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = sorted(str(p.relative_to(stack)) for p in stack.rglob("*") if p.is_file())
    assert names == [".env.example", "README.md", "docker-compose.yml",
                     "grafana/dashboards/llm-cost.json", "grafana/dashboards/llm-errors.json",
                     "grafana/dashboards/llm-performance.json", "grafana/dashboards/llm-tokens.json",
                     "grafana/dashboards/llm-traces.json", "grafana/provisioning/dashboards/observatory.yaml",
                     "grafana/provisioning/datasources/observatory.yaml", "otel-collector.yaml", "prometheus.yml"]
    assert cli(["stack", "init", str(stack)]) == 1
    assert "--force" in capsys.readouterr().err
    assert cli(["stack", "init", str(stack), "--force"]) == 0


def test_compose_file_validates_and_depends_on_resolves(stack: Path) -> None:
    compose = _yaml(stack / "docker-compose.yml")
    schema = json.loads((Path(__file__).parent / "compose_spec.json").read_text())
    jsonschema.Draft201909Validator(schema).validate(compose)
    services = compose["services"]
    for name, service in services.items():
        depends = service.get("depends_on", [])
        for dependency in (depends if isinstance(depends, list) else depends.keys()):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (stack / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name} mounts undeclared volume {source}"
    assert {"otel-collector", "observatory", "timescaledb", "jaeger", "prometheus", "loki", "grafana"} <= set(services)


def test_ports_and_credentials_come_from_env(stack: Path) -> None:
    env = dict(line.split("=", 1) for line in (stack / ".env.example").read_text().splitlines()
               if line and not line.startswith("#"))
    text = (stack / "docker-compose.yml").read_text()
    used = re.findall(r"\$\{([A-Z_]+)(:-[^}]*)?\}", text)
    missing = sorted({name for name, default in used if not default and name not in env})
    assert not missing, f"variables with no value in .env.example: {missing}"
    for secret in ("POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "OBSERVATORY_TOKEN"):
        assert f"${{{secret}}}" in text and secret in env
    assert not re.search(r"PASSWORD:\s*[^$\s]", text), "a password written into the compose file"
    datasources = (stack / "grafana/provisioning/datasources/observatory.yaml").read_text()
    assert "$POSTGRES_PASSWORD" in datasources


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool not installed (Debian: apt install prometheus)")
def test_prometheus_config_passes_promtool(stack: Path) -> None:
    proc = subprocess.run(["promtool", "check", "config", "--syntax-only", str(stack / "prometheus.yml")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_otel_collector_config_is_consistent_and_uses_contrib_components(stack: Path) -> None:
    config = _yaml(stack / "otel-collector.yaml")
    for section, known in CONTRIB.items():
        for component in config.get(section) or {}:
            assert component.split("/")[0] in known, f"{section}: {component} is not in otelcol-contrib"
    service = config["service"]
    for extension in service.get("extensions", []):
        assert extension in config["extensions"]
    pipelines = service["pipelines"]
    assert set(pipelines) == {"traces", "metrics", "logs"}
    for name, pipeline in pipelines.items():
        for section in ("receivers", "processors", "exporters"):
            for component in pipeline.get(section, []):
                assert component in config[section], f"{name} uses undefined {section[:-1]} {component}"
        assert pipeline["receivers"] and pipeline["exporters"]
    traces = pipelines["traces"]["processors"]
    assert traces.index("redaction") < traces.index("tail_sampling") < traces.index("batch")
    policies = {p["type"] for p in config["processors"]["tail_sampling"]["policies"]}
    assert {"status_code", "latency", "numeric_attribute"} <= policies
    assert config["processors"]["tail_sampling"]["policies"][2]["numeric_attribute"]["key"] == "llm.cost.usd"


def test_dashboard_provisioning_points_at_the_dashboards(stack: Path) -> None:
    provider = _yaml(stack / "grafana/provisioning/dashboards/observatory.yaml")["providers"][0]
    compose = _yaml(stack / "docker-compose.yml")
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"] if v.startswith("./"))
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    uids = {d["uid"] for d in _yaml(stack / "grafana/provisioning/datasources/observatory.yaml")["datasources"]}
    for dashboard in (stack / "grafana/dashboards").glob("*.json"):
        for panel in json.loads(dashboard.read_text())["panels"]:
            assert panel["datasource"]["uid"] in uids, (dashboard.name, panel["title"])
