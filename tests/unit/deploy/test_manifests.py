"""deploy/: the compose files and Kubernetes manifests validate against their schemas
(offline: the compose spec vendored by check-jsonschema, the Kubernetes schemas shipped
by kubernetes-validate), and agree with each other and with StreamGuard's settings.
"""

from __future__ import annotations

import copy
import importlib.metadata
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from streamguard.config import Settings

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
K8S_VERSION = "1.30"  # the oldest Kubernetes release the manifests target


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def settings_from_env(env: dict[str, Any]) -> Settings:
    """Settings as the worker would build them from ``env`` (compose ${X:-default} resolved)."""
    values = {}
    for key, value in env.items():
        assert key.startswith("STREAMGUARD_"), key
        name = key.removeprefix("STREAMGUARD_").lower()
        assert name in Settings.model_fields, f"{key} is not a setting"
        values[name] = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value))
    return Settings(**values)


# --- docker compose ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_validator() -> jsonschema.protocols.Validator:
    # check-jsonschema vendors the compose spec; read the file without importing the
    # package (its CLI module is not needed here).
    dist = importlib.metadata.distribution("check-jsonschema")
    path = Path(str(dist.locate_file("check_jsonschema/builtin_schemas/vendor/compose-spec.json")))
    schema = json.loads(path.read_text())
    validator: jsonschema.protocols.Validator = jsonschema.validators.validator_for(schema)(schema)
    return validator


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load(DEPLOY / "docker-compose.yml")


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.gpu.yml"])
def test_compose_files_follow_the_compose_spec(
    name: str, compose_validator: jsonschema.protocols.Validator
) -> None:
    errors = [e.message for e in compose_validator.iter_errors(load(DEPLOY / name))]
    assert not errors, errors


def test_the_compose_schema_rejects_a_broken_file(
    compose_validator: jsonschema.protocols.Validator, compose: dict[str, Any]
) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["worker-1"]["ports"] = {"9108": 9108}
    broken["services"]["kafka"]["restart_policy"] = "always"
    assert len(list(compose_validator.iter_errors(broken))) >= 2


def test_compose_runs_kraft_kafka_and_two_workers_in_one_group(compose: dict[str, Any]) -> None:
    services = compose["services"]
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert not any("zookeeper" in name for name in services)
    workers = {name: s for name, s in services.items() if name.startswith("worker")}
    assert len(workers) == 2
    settings = [settings_from_env(w["environment"]) for w in workers.values()]
    assert len({s.app_id for s in settings}) == 1, "workers must share one consumer group"
    assert {s.broker for s in settings} == {"kafka://kafka:9092"}
    assert {s.metrics_host for s in settings} == {"0.0.0.0"}
    for worker in workers.values():
        assert worker["depends_on"]["kafka"]["condition"] == "service_healthy"
        assert "/readyz" in " ".join(worker["healthcheck"]["test"])
        # Secrets come from an optional env file: its absence must not stop `up`.
        assert all(entry["required"] is False for entry in worker.get("env_file", []))
        assert (REPO / "deploy" / ".." / worker["build"]["dockerfile"]).resolve().exists()
    assert settings[0].partitions >= len(workers), "partitions bound the useful worker count"


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Volume source -> container path (short syntax: SOURCE:TARGET[:MODE])."""
    return dict(tuple(v.split(":")[:2]) for v in service.get("volumes", []))


def test_compose_provisions_grafana_with_the_generated_dashboards(
    compose: dict[str, Any],
) -> None:
    grafana = mounts(compose["services"]["grafana"])
    assert grafana["../grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = load(REPO / "grafana/provisioning/dashboards/streamguard.yaml")["providers"][0]
    assert grafana["../grafana/dashboards"] == provider["options"]["path"]
    for source in grafana:
        if source.startswith("."):
            assert (DEPLOY / source).is_dir(), source


def test_compose_mounts_the_prometheus_and_alertmanager_configs(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert mounts(services["prometheus"])["./prometheus"] == "/etc/prometheus"
    alertmanager = mounts(services["alertmanager"])
    assert alertmanager["./alertmanager/alertmanager.yml"] == "/etc/alertmanager/alertmanager.yml"
    prometheus_yml = DEPLOY / "prometheus" / "prometheus.yml"
    # Both files ship with the repository: a missing one is a failure, not a skip.
    assert prometheus_yml.is_file(), "deploy/prometheus/prometheus.yml is missing"
    assert (DEPLOY / "alertmanager/alertmanager.yml").is_file(), "alertmanager.yml is missing"
    # Prometheus scrapes every worker by its compose service name and metrics port.
    config = load(prometheus_yml)
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    for name, service in services.items():
        if name.startswith("worker"):
            port = settings_from_env(service["environment"]).metrics_port
            assert f"{name}:{port}" in targets, f"Prometheus does not scrape {name}"
    # Grafana's $__rate_interval assumes the workers' scrape interval.
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "streamguard"]
    interval = job.get("scrape_interval", config.get("global", {}).get("scrape_interval"))
    datasource = load(REPO / "grafana/provisioning/datasources/prometheus.yaml")
    assert datasource["datasources"][0]["jsonData"]["timeInterval"] == interval


def test_gpu_overlay_uses_the_cuda_image_and_reserves_a_gpu() -> None:
    overlay = load(DEPLOY / "docker-compose.gpu.yml")
    workers = overlay["services"]
    assert set(workers) == {"worker-1", "worker-2"}
    for worker in workers.values():
        assert worker["build"]["dockerfile"] == "deploy/Dockerfile.cuda"
        assert settings_from_env(worker["environment"]).device == "cuda"
        (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]


# --- Dockerfiles ---------------------------------------------------------------------------


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, continuation lines joined."""
    joined, parts = [], []
    for line in dockerfile.read_text().splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        parts.append(line.rstrip().removesuffix("\\").strip())
        if not line.rstrip().endswith("\\"):
            joined.append(" ".join(parts))
            parts = []
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in joined]


def torch_pin() -> str:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    (pin,) = [d for d in pyproject["project"]["dependencies"] if d.startswith("torch")]
    return pin.split("==")[1]


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cuda"])
def test_dockerfiles_build_the_worker_from_files_that_exist(name: str) -> None:
    steps = instructions(DEPLOY / name)
    kinds = [kind for kind, _ in steps]
    assert kinds.count("FROM") == 2, "a build stage and a slim runtime stage"
    for kind, args in steps:
        if kind == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert (REPO / source).exists(), f"{name}: COPY {source} does not exist"
    assert f"ARG TORCH_VERSION={torch_pin()}" in [f"{k} {a}" for k, a in steps]
    env = " ".join(args for kind, args in steps if kind == "ENV")
    values = dict(re.findall(r"(STREAMGUARD_\w+)=(\S+)", env))
    settings = settings_from_env(values)
    assert settings.metrics_host == "0.0.0.0"
    assert ("EXPOSE", str(settings.metrics_port)) in steps
    user = [args for kind, args in steps if kind == "USER"]
    assert user and user[-1] not in ("root", "0")
    assert steps[-2:] == [("ENTRYPOINT", '["streamguard"]'), ("CMD", '["worker"]')]
    ignore = (DEPLOY / f"{name}.dockerignore").read_text().split()
    assert "!streamguard/" in ignore and "!pyproject.toml" in ignore


def test_cpu_image_takes_cpu_torch_and_cuda_image_the_cuda_build() -> None:
    cpu = " ".join(a for k, a in instructions(DEPLOY / "Dockerfile") if k == "RUN")
    cuda = " ".join(a for k, a in instructions(DEPLOY / "Dockerfile.cuda") if k == "RUN")
    assert "download.pytorch.org/whl/cpu" in cpu
    assert "index-url" not in cuda


# --- Kubernetes ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict[str, Any]]:
    """The base kustomization's resources by kind, but the console's (console.yaml, its own
    Deployment and Service: tests/unit/deploy/test_console_deploy.py)."""
    docs = kustomization_resources()
    by_kind = {doc["kind"]: doc for doc in docs if component(doc) != "console"}
    assert len(by_kind) == len([doc for doc in docs if component(doc) != "console"])
    return by_kind


def kustomization_resources() -> list[dict[str, Any]]:
    """Every document of every file the base kustomization lists."""
    kustomization = load(K8S / "kustomization.yaml")
    return [
        doc
        for name in kustomization["resources"]
        for doc in yaml.safe_load_all((K8S / name).read_text())
    ]


def component(doc: dict[str, Any]) -> str | None:
    labels: dict[str, str] = doc["metadata"].get("labels", {})
    return labels.get("app.kubernetes.io/component")


def k8s_errors(doc: dict[str, Any]) -> str | None:
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return f"{doc['kind']}: {exc.message}"
    return None


def test_kustomization_lists_every_manifest() -> None:
    listed = set(load(K8S / "kustomization.yaml")["resources"])
    examples = {p.name for p in K8S.glob("*.example.yaml")}
    assert {"secret.example.yaml", "console-secret.example.yaml"} <= examples
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"} - examples
    assert listed == on_disk
    names = [(doc["kind"], doc["metadata"]["name"]) for doc in kustomization_resources()]
    assert len(names) == len(set(names)), "two resources of one kind share a name"


@pytest.mark.parametrize(
    "path", sorted(K8S.glob("*.yaml")), ids=lambda p: p.name if isinstance(p, Path) else p
)
def test_manifests_validate_against_the_kubernetes_schema(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        if doc["kind"] == "Kustomization":
            assert all((path.parent / name).exists() for name in doc["resources"])
            continue
        assert k8s_errors(doc) is None


def test_the_kubernetes_schema_rejects_a_broken_deployment(
    manifests: dict[str, dict[str, Any]],
) -> None:
    broken = copy.deepcopy(manifests["Deployment"])
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/"
    assert k8s_errors(broken) is not None
    broken = copy.deepcopy(manifests["Deployment"])
    broken["spec"]["replicas"] = "two"
    assert k8s_errors(broken) is not None


def test_worker_probes_resources_and_settings(manifests: dict[str, dict[str, Any]]) -> None:
    config = settings_from_env(manifests["ConfigMap"]["data"])
    pod = manifests["Deployment"]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == config.metrics_port
    assert config.metrics_host == "0.0.0.0"
    probes = {
        kind: (container[kind]["httpGet"]["path"], container[kind]["httpGet"]["port"])
        for kind in ("readinessProbe", "livenessProbe", "startupProbe")
    }
    assert probes == {
        "readinessProbe": ("/readyz", "metrics"),
        "livenessProbe": ("/healthz", "metrics"),
        "startupProbe": ("/healthz", "metrics"),
    }
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= container["resources"][bound].keys()
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(config.metrics_port)
    env_from = {next(iter(ref)): ref for ref in container["envFrom"]}
    assert (
        env_from["configMapRef"]["configMapRef"]["name"]
        == manifests["ConfigMap"]["metadata"]["name"]
    )
    assert env_from["secretRef"]["secretRef"]["optional"] is True


def test_secret_example_holds_only_settings(manifests: dict[str, dict[str, Any]]) -> None:
    secret = load(K8S / "secret.example.yaml")
    settings = settings_from_env(secret["stringData"])
    assert settings.webhook_secret is not None
    assert "Secret" not in manifests, "real secrets do not belong in the kustomization"


def test_selectors_match_the_worker_pods(manifests: dict[str, dict[str, Any]]) -> None:
    deployment = manifests["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selectors = [
        deployment["spec"]["selector"]["matchLabels"],
        manifests["Service"]["spec"]["selector"],
        manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
    ]
    for selector in selectors:
        assert selector.items() <= labels.items()
    target = manifests["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])


def test_autoscaling_never_exceeds_the_partitions(manifests: dict[str, dict[str, Any]]) -> None:
    partitions = settings_from_env(manifests["ConfigMap"]["data"]).partitions
    hpa = manifests["HorizontalPodAutoscaler"]["spec"]
    assert hpa["minReplicas"] >= 2, "one worker left is no redundancy"
    assert hpa["maxReplicas"] <= partitions
    assert manifests["Deployment"]["spec"]["replicas"] <= partitions


def apply_json_patch(doc: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """The add/replace subset of RFC 6902 that the overlays use."""
    patched = copy.deepcopy(doc)
    for op in operations:
        *parents, last = [
            p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]
        ]
        node: Any = patched
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if op["op"] == "replace":
            assert last in node, f"replace of a missing path {op['path']}"
        else:
            assert op["op"] == "add", op
        node[last] = op["value"]
    return patched


def test_gpu_overlay_patches_validate(manifests: dict[str, dict[str, Any]]) -> None:
    overlay = load(K8S / "gpu" / "kustomization.yaml")
    assert overlay["resources"] == [".."]
    patched = dict(manifests)
    for patch in overlay["patches"]:
        kind = patch["target"]["kind"]
        assert manifests[kind]["metadata"]["name"] == patch["target"]["name"]
        patched[kind] = apply_json_patch(manifests[kind], yaml.safe_load(patch["patch"]))
        assert k8s_errors(patched[kind]) is None
    assert settings_from_env(patched["ConfigMap"]["data"]).device == "cuda"
    (container,) = patched["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert [i["newTag"] for i in overlay["images"]] == ["cuda"]


def test_service_is_named_after_the_prometheus_job(manifests: dict[str, dict[str, Any]]) -> None:
    # A ServiceMonitor's job label is the Service name; the alert rules select on the job.
    config_path = DEPLOY / "prometheus" / "prometheus.yml"
    assert config_path.is_file(), "deploy/prometheus/prometheus.yml is missing"
    jobs = {job["job_name"] for job in load(config_path)["scrape_configs"]}
    assert manifests["Service"]["metadata"]["name"] in jobs


# --- the recommender: one model for every worker, its state on a volume --------------------


def test_compose_runs_one_recommender_with_a_volume_and_workers_without_one(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    recommender = services["recommender"]
    assert recommender["command"] == ["recommender"]
    assert "deploy" not in recommender or recommender["deploy"].get("replicas", 1) == 1
    settings = settings_from_env(recommender["environment"])
    assert settings.broker == "kafka://kafka:9092"
    (volume,) = recommender["volumes"]
    name, target = volume.split(":")[:2]
    assert name in compose["volumes"], "a named volume, kept across `down` / `up`"
    data_dir = Path("/var/lib/streamguard/data")  # the image's STREAMGUARD_DATA_DIR
    assert data_dir == Path(target) or Path(target) in data_dir.parents
    workers = [s for name, s in services.items() if name.startswith("worker")]
    for worker in workers:
        assert settings_from_env(worker["environment"]).recommender_enabled is False


def test_the_recommender_is_one_statefulset_replica_with_a_persistent_volume(
    manifests: dict[str, dict[str, Any]],
) -> None:
    statefulset = manifests["StatefulSet"]
    spec = statefulset["spec"]
    assert spec["replicas"] == 1, "two recommenders would each publish every list"
    pod = spec["template"]
    assert spec["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    assert container["args"] == ["recommender"]
    config = settings_from_env(manifests["ConfigMap"]["data"])
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    # The snapshot directory (STREAMGUARD_DATA_DIR/recommender) is on the claim, not on
    # an emptyDir that a rollout or reschedule would lose.
    assert Path(mounts[claim["metadata"]["name"]]) == config.data_dir
    pod_volumes = {v["name"] for v in pod["spec"].get("volumes", [])}
    assert claim["metadata"]["name"] not in pod_volumes
    assert pod["spec"]["securityContext"]["fsGroup"] == 10001  # the volume is writable
    env_from = {next(iter(ref)): ref for ref in container["envFrom"]}
    assert env_from["configMapRef"]["configMapRef"]["name"] == "streamguard-config"
    # The recommender does not run in the workers: the StatefulSet's pods do not match
    # the worker selectors (Service, PDB, HPA target), and the workers turn theirs off.
    worker_selector = manifests["Deployment"]["spec"]["selector"]["matchLabels"]
    assert not worker_selector.items() <= pod["metadata"]["labels"].items()


def test_the_workers_do_not_run_an_embedded_recommender(
    manifests: dict[str, dict[str, Any]],
) -> None:
    (container,) = manifests["Deployment"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    config = dict(manifests["ConfigMap"]["data"])
    config.update({k: v for k, v in env.items() if k.startswith("STREAMGUARD_")})
    assert settings_from_env(config).recommender_enabled is False
    volumes = {v["name"]: v for v in manifests["Deployment"]["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes["data"], "the workers' state is rebuilt from changelogs"
