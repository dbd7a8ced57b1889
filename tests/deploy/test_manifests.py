"""The Kubernetes manifests: valid for Kubernetes, and in agreement with the server."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from echo_model.serving.app import LINKS
from echo_model.serving.cli import unsafe_bind
from echo_model.serving.settings import Settings, env_name, parse_settings
from tests.deploy.files import (
    pod_environment,
    read_image,
    read_manifests,
    server_container,
)

#: The oldest Kubernetes with preStop's ``sleep`` on by default, and the newest
#: whose schemas kubernetes-validate ships.
VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
SETTING_VARIABLES = {env_name(name) for name in Settings.model_fields}


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict[str, Any]]:
    return read_manifests()


@pytest.fixture(scope="module")
def container(manifests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return server_container(manifests)


def pod_settings(container: dict[str, Any]) -> Settings:
    """The settings the server parses in the pod."""
    return parse_settings([], pod_environment(container, key="from-the-secret"))


@pytest.mark.parametrize("version", VERSIONS)
def test_manifests_validate_against_kubernetes_schemas(
    manifests: dict[str, dict[str, Any]], version: str
) -> None:
    for manifest in manifests.values():
        # strict: a misspelt or misplaced field is an error, not ignored
        kubernetes_validate.validate(manifest, version, strict=True)


def test_the_set_is_complete(manifests: dict[str, dict[str, Any]]) -> None:
    assert set(manifests) == {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }


def test_every_pod_variable_is_a_server_setting(container: dict[str, Any]) -> None:
    names = {variable["name"] for variable in container["env"]}
    assert names <= SETTING_VARIABLES, names - SETTING_VARIABLES


def test_the_api_key_comes_from_a_required_secret(container: dict[str, Any]) -> None:
    (key,) = [v for v in container["env"] if v["name"] == "ECHO_SERVER_API_KEY"]
    reference = key["valueFrom"]["secretKeyRef"]
    assert reference["name"]
    assert reference["key"]
    assert not reference.get("optional", False)  # no secret: no pod, not an open one
    settings = pod_settings(container)
    assert unsafe_bind(settings) is None
    assert settings.api_key is not None


def test_ports_agree_with_the_image(
    manifests: dict[str, dict[str, Any]], container: dict[str, Any]
) -> None:
    image = read_image()
    settings = pod_settings(container)
    (port,) = container["ports"]
    assert port["containerPort"] == settings.port
    assert image.exposed == [settings.port]
    service_port = manifests["Service"]["spec"]["ports"][0]["targetPort"]
    assert service_port in (port["name"], port["containerPort"])
    annotations = manifests["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(settings.port)
    assert annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.parametrize("probe", ["readinessProbe", "livenessProbe"])
def test_probes_ask_the_health_route_on_the_server_port(
    container: dict[str, Any], probe: str
) -> None:
    check = container[probe]["httpGet"]
    assert check["path"] == LINKS["health"]
    (port,) = container["ports"]
    assert check["port"] in (port["name"], port["containerPort"])


def test_grace_period_outlasts_pre_stop_and_the_drain(
    manifests: dict[str, dict[str, Any]], container: dict[str, Any]
) -> None:
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    settings = pod_settings(container)
    # Kubernetes counts the grace period from the start of preStop.
    assert pod["terminationGracePeriodSeconds"] > pre_stop + settings.graceful_timeout


def test_one_core_per_worker(container: dict[str, Any]) -> None:
    settings = pod_settings(container)
    resources = container["resources"]
    assert cores(resources["requests"]["cpu"]) == settings.workers
    assert cores(resources["limits"]["cpu"]) == settings.workers
    assert mebibytes(resources["limits"]["memory"]) >= mebibytes(
        resources["requests"]["memory"]
    )


def test_the_pod_runs_as_the_image_user(
    manifests: dict[str, dict[str, Any]],
) -> None:
    security = manifests["Deployment"]["spec"]["template"]["spec"]["securityContext"]
    user, _, group = read_image().user.partition(":")
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == int(user) != 0
    assert security["runAsGroup"] == int(group)


def test_service_autoscaler_and_budget_select_the_deployment(
    manifests: dict[str, dict[str, Any]],
) -> None:
    deployment = manifests["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert manifests["Service"]["spec"]["selector"].items() <= labels.items()
    budget = manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]
    assert budget.items() <= labels.items()
    target = manifests["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == (
        "Deployment",
        deployment["metadata"]["name"],
    )


def cores(quantity: str) -> float:
    """Kubernetes CPU quantity in cores (``"1"``, ``"500m"``)."""
    if quantity.endswith("m"):
        return int(quantity[:-1]) / 1000
    return float(quantity)


def mebibytes(quantity: str) -> float:
    """Kubernetes memory quantity in MiB (``"256Mi"``, ``"1Gi"``)."""
    units = {"Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]]
