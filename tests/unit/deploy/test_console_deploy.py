"""deploy/: the console's Compose service and Kubernetes manifests (console.yaml).

Schema validation is shared with the rest of deploy/ (tests/unit/deploy/test_manifests.py
validates every compose file and every manifest); here: the console runs the worker's
image with arguments the CLI accepts, publishes on the host's loopback only, takes its
basic-auth password from the env file or a Secret (never inline), probes a route the
console serves without credentials, and is locked down like the worker.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from streamguard.cli import build_parser
from streamguard.config import Settings
from streamguard.console.server import auth_from
from streamguard.console.store import ConsoleStore
from streamguard.console.web import BasicAuth, make_app
from tests.unit.deploy.test_manifests import (
    DEPLOY,
    K8S,
    REPO,
    component,
    k8s_errors,
    kustomization_resources,
    load,
    settings_from_env,
)

PASSWORD_KEY = "STREAMGUARD_CONSOLE_PASSWORD"
USERNAME_KEY = "STREAMGUARD_CONSOLE_USERNAME"


def console_args(argv: list[str]) -> Any:
    """``streamguard ARGV`` as the CLI parses it (the image's entrypoint is ``streamguard``)."""
    args = build_parser("console").parse_args(argv)
    assert args.command == "console"
    return args


def listen_port(args: Any) -> int:
    return int(args.port) if args.port is not None else Settings().console_port


def env_file_values(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def probe_answers_without_credentials(path: str) -> tuple[int, int]:
    """(status of ``path``, status of ``/``) from a console with basic auth, no credentials."""

    async def main() -> tuple[int, int]:
        app = make_app(ConsoleStore(), auth=BasicAuth("ops", "pa55-word"))
        async with TestClient(TestServer(app)) as client:
            probe = await client.get(path)
            page = await client.get("/")
            return probe.status, page.status

    return asyncio.run(main())


def served_paths() -> set[str]:
    app = make_app(ConsoleStore())
    return {r.resource.canonical for r in app.router.routes() if r.resource is not None}


# --- docker compose ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load(DEPLOY / "docker-compose.yml")


def test_compose_console_runs_the_worker_image_with_valid_arguments(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    console, worker = services["console"], services["worker-1"]
    assert (console["image"], console["build"]) == (worker["image"], worker["build"])
    args = console_args(console["command"])
    assert args.host == "0.0.0.0", "inside the container it must listen beyond loopback"
    assert args.prometheus == "http://prometheus:9090"
    assert "9090:9090" in services["prometheus"]["ports"]
    assert console["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert "prometheus" in console["depends_on"]
    # The same broker and the same optional env file as the workers.
    settings = settings_from_env(console["environment"])
    assert settings.broker == settings_from_env(worker["environment"]).broker
    assert console["env_file"] == worker["env_file"]
    health = " ".join(console["healthcheck"]["test"])
    assert f"127.0.0.1:{listen_port(args)}/healthz" in health


def test_compose_console_is_published_on_the_host_loopback_only(
    compose: dict[str, Any],
) -> None:
    console = compose["services"]["console"]
    port = listen_port(console_args(console["command"]))
    published = [str(p).split(":") for p in console["ports"]]
    assert published == [["127.0.0.1", str(port), str(port)]]
    assert "expose" not in console and console.get("network_mode") != "host"


def test_compose_console_password_is_never_inline(compose: dict[str, Any]) -> None:
    console = compose["services"]["console"]
    environment = console.get("environment", {})
    assert isinstance(environment, dict)
    assert PASSWORD_KEY not in environment and USERNAME_KEY not in environment
    assert not any("PASSWORD" in key or "SECRET" in key for key in environment)
    assert not any(PASSWORD_KEY in str(arg) for arg in console["command"])
    (env_file,) = console["env_file"]
    assert env_file["path"] == "./streamguard.env" and env_file["required"] is False
    # The env file is gitignored; its example is in git and turns basic auth on.
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "deploy/streamguard.env"], cwd=REPO, check=False
    )
    assert ignored.returncode == 0, "deploy/streamguard.env must be gitignored"
    example = DEPLOY / "streamguard.env.example"
    not_ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(example.relative_to(REPO))], cwd=REPO, check=False
    )
    assert not_ignored.returncode == 1, "the example must not be gitignored"
    settings = settings_from_env(env_file_values(example))
    auth = auth_from(settings)
    assert auth is not None and auth.username
    assert settings.console_password is not None
    assert settings.console_password.get_secret_value() == "REPLACE_ME"


def test_the_compose_healthcheck_path_needs_no_credentials(compose: dict[str, Any]) -> None:
    health = " ".join(compose["services"]["console"]["healthcheck"]["test"])
    path = "/" + health.split("/", 3)[3].split("'")[0]
    assert path in served_paths()
    assert probe_answers_without_credentials(path) == (200, 401)


# --- Kubernetes ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def console_k8s() -> dict[str, dict[str, Any]]:
    """console.yaml's resources, by kind, as the kustomization lists them."""
    docs = [doc for doc in kustomization_resources() if component(doc) == "console"]
    by_kind = {doc["kind"]: doc for doc in docs}
    assert len(by_kind) == len(docs)
    return by_kind


@pytest.fixture(scope="module")
def worker_k8s() -> dict[str, dict[str, Any]]:
    docs = [doc for doc in kustomization_resources() if component(doc) != "console"]
    return {doc["kind"]: doc for doc in docs}


def container_of(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def test_console_manifests_are_a_deployment_and_a_cluster_ip_service(
    console_k8s: dict[str, dict[str, Any]],
) -> None:
    assert set(console_k8s) == {"Deployment", "Service"}
    for doc in console_k8s.values():
        assert k8s_errors(doc) is None
    assert console_k8s["Service"]["spec"].get("type", "ClusterIP") == "ClusterIP"
    kinds = {doc["kind"] for doc in kustomization_resources()}
    assert "Ingress" not in kinds and "Secret" not in kinds


def test_console_service_reaches_the_console_port(
    console_k8s: dict[str, dict[str, Any]],
) -> None:
    deployment, service = console_k8s["Deployment"], console_k8s["Service"]
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    container = container_of(deployment)
    args = console_args(container["args"])
    assert args.host == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    (service_port,) = service["spec"]["ports"]
    assert ports[service_port["targetPort"]] == listen_port(args)


def test_console_pods_and_worker_selectors_do_not_overlap(
    console_k8s: dict[str, dict[str, Any]], worker_k8s: dict[str, dict[str, Any]]
) -> None:
    console_labels = console_k8s["Deployment"]["spec"]["template"]["metadata"]["labels"]
    worker_labels = worker_k8s["Deployment"]["spec"]["template"]["metadata"]["labels"]
    worker_selectors = [
        worker_k8s["Deployment"]["spec"]["selector"]["matchLabels"],
        worker_k8s["Service"]["spec"]["selector"],
        worker_k8s["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
    ]
    for selector in worker_selectors:
        assert not selector.items() <= console_labels.items()
    assert not console_k8s["Service"]["spec"]["selector"].items() <= worker_labels.items()


def test_console_probe_path_is_served_without_credentials(
    console_k8s: dict[str, dict[str, Any]],
) -> None:
    container = container_of(console_k8s["Deployment"])
    port_names = {p["name"] for p in container["ports"]}
    paths = {}
    for kind in ("readinessProbe", "livenessProbe"):
        probe = container[kind]["httpGet"]
        assert probe["port"] in port_names
        paths[kind] = probe["path"]
    # Readiness follows Kafka; liveness must not, or an outage restarts the pod in a loop.
    assert paths == {"readinessProbe": "/healthz", "livenessProbe": "/livez"}
    for path in paths.values():
        assert path in served_paths()
        # Kubelet probes carry no credentials: with auth on, probes pass and pages do not.
        assert probe_answers_without_credentials(path) == (200, 401)


def test_console_password_comes_from_a_secret(
    console_k8s: dict[str, dict[str, Any]], worker_k8s: dict[str, dict[str, Any]]
) -> None:
    container = container_of(console_k8s["Deployment"])
    env = {e["name"]: e for e in container["env"]}
    secret = load(K8S / "console-secret.example.yaml")
    for key in (USERNAME_KEY, PASSWORD_KEY):
        assert "value" not in env[key], f"{key} inline"
        ref = env[key]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"] and ref["key"] == key
        # Not optional: without the Secret the pod does not start (rather than serve
        # the console on 0.0.0.0 without auth).
        assert ref.get("optional", False) is False
    assert k8s_errors(secret) is None
    assert auth_from(settings_from_env(secret["stringData"])) is not None
    # Broker, topics and TLS/SASL as for the workers.
    env_from = {next(iter(ref)): ref for ref in container["envFrom"]}
    assert (
        env_from["configMapRef"]["configMapRef"]["name"]
        == worker_k8s["ConfigMap"]["metadata"]["name"]
    )
    assert env_from["secretRef"]["secretRef"]["optional"] is True
    # The workers never see the console password.
    worker_env = container_of(worker_k8s["Deployment"])["envFrom"]
    assert all(
        ref.get("secretRef", {}).get("name") != secret["metadata"]["name"] for ref in worker_env
    )
    assert PASSWORD_KEY not in worker_k8s["ConfigMap"]["data"]


def test_console_is_locked_down_like_the_worker(
    console_k8s: dict[str, dict[str, Any]], worker_k8s: dict[str, dict[str, Any]]
) -> None:
    console_pod = console_k8s["Deployment"]["spec"]["template"]["spec"]
    worker_pod = worker_k8s["Deployment"]["spec"]["template"]["spec"]
    assert console_pod["securityContext"] == worker_pod["securityContext"]
    container, worker = (
        container_of(console_k8s["Deployment"]),
        container_of(worker_k8s["Deployment"]),
    )
    assert container["securityContext"] == worker["securityContext"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["image"] == worker["image"]
    # The read-only root: HOME points at a writable emptyDir.
    env = {e["name"]: e.get("value") for e in container["env"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in console_pod["volumes"]}
    assert "emptyDir" in volumes[mounts[env["HOME"]]]
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= container["resources"][bound].keys()
