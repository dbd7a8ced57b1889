"""Read the deployment files as their tools do: the Dockerfile, the manifests."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.processes import ROOT

DOCKERFILE = ROOT / "Dockerfile"
MANIFESTS = ROOT / "deploy" / "kubernetes"


@dataclass
class Image:
    """What the Dockerfile's final stage gives the container."""

    env: dict[str, str] = field(default_factory=dict)
    user: str = ""
    exposed: list[int] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    healthcheck_options: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] | None = None


def read_image(path: Path = DOCKERFILE) -> Image:
    """Parse the final stage of a Dockerfile (the subset this project uses).

    Exec forms must be JSON arrays: a shell form would put ``/bin/sh`` in
    front of the server, and the server would not get SIGTERM.
    """
    image = Image()
    for line in _instructions(path.read_text()):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            image = Image()  # only the last stage ends up in the image
        elif keyword == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                image.env[name] = value
        elif keyword == "USER":
            image.user = rest.strip()
        elif keyword == "EXPOSE":
            image.exposed = [int(port.split("/")[0]) for port in rest.split()]
        elif keyword == "HEALTHCHECK":
            options, _, command = rest.partition("CMD ")
            image.healthcheck = json.loads(command)
            image.healthcheck_options = dict(
                option.removeprefix("--").split("=", 1) for option in options.split()
            )
        elif keyword == "ENTRYPOINT":
            image.entrypoint = json.loads(rest)
        elif keyword == "CMD":
            image.cmd = json.loads(rest)
    return image


def _instructions(text: str) -> list[str]:
    """Return the Dockerfile's instructions, continuation lines joined."""
    instructions, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        current += line.removesuffix("\\").strip() + " "
        if not line.endswith("\\"):
            instructions.append(current.strip())
            current = ""
    return instructions


def read_manifests(directory: Path = MANIFESTS) -> dict[str, dict[str, Any]]:
    """Return every manifest under ``directory`` by kind."""
    manifests: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            assert document["kind"] not in manifests, f"two {document['kind']}s"
            manifests[document["kind"]] = document
    return manifests


def server_container(manifests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Return the Deployment's one container."""
    (container,) = manifests["Deployment"]["spec"]["template"]["spec"]["containers"]
    return container


def pod_environment(container: dict[str, Any], key: str) -> dict[str, str]:
    """The ECHO_* variables the server sees in the pod, ``key`` for the Secret's.

    The image's variables first, then the container's, which override them.
    """
    environ = {k: v for k, v in read_image().env.items() if k.startswith("ECHO_")}
    for variable in container["env"]:
        environ[variable["name"]] = variable.get("value", key)
    return environ
