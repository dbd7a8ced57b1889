"""The image itself, built and run with podman: refusal, health, a stream, SIGTERM.

Not run in CI: ``.ci/run`` does not install podman or build a base image
(about 3-4 minutes more here, most of it debootstrap), so under ``CI=true``
this test skips, saying so, rather than failing as tests whose tools CI
installs do. To run it, on Debian: ``apt-get install podman runc debootstrap``
then ``deploy/local-base-image.sh`` (a Debian 12 root file system from Debian's
packages, ~1.5 min), or ``podman pull python:3.11-slim-bookworm`` where a
registry is reachable. It skips, saying which is missing, otherwise.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.deploy.files import (
    pod_environment,
    read_image,
    read_manifests,
    server_container,
)
from tests.support.processes import ROOT, free_port, wait_until_healthy

pytestmark = pytest.mark.slow

PODMAN = shutil.which("podman")
#: CI (.ci/run) installs no podman: the skip says so plainly.
NOT_IN_CI = "not run in CI (.ci/run installs no podman): "
KEY = "image-test-key-41d9"  # a test value
TAG = "localhost/echo-model:test"
BASES = [
    "localhost/echo-model-base:bookworm",  # deploy/local-base-image.sh
    "docker.io/library/python:3.11-slim-bookworm",  # the Dockerfile's default
]
#: Debian's podman runs containers with crun, which refuses machines that mount
#: cgroups v1 and v2 side by side (as this one does); runc runs them.
RUNTIME = ["--runtime", "runc"] if shutil.which("runc") else []
#: podman otherwise raises the open-file and process limits, which root may
#: not do where it lacks CAP_SYS_RESOURCE (as here).
LIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]
#: As the Deployment's securityContext has it.
HARDENING = ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
#: Lets pip in a Debian base trust what this machine trusts (a TLS proxy).
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def podman(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PODMAN), *RUNTIME, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    if PODMAN is None:
        pytest.skip(f"{NOT_IN_CI}podman is not installed (apt-get install podman runc)")
    base = next((b for b in BASES if podman("image", "exists", b).returncode == 0), "")
    if not base:
        pytest.skip(
            f"{NOT_IN_CI}no base image: run deploy/local-base-image.sh"
            f" or pull {BASES[1]}"
        )
    mounts = ["-v", f"{CA_BUNDLE}:{CA_BUNDLE}:ro"] if CA_BUNDLE.exists() else []
    build = podman(
        "build",
        "--isolation",
        "chroot",  # RUN steps without an OCI runtime (see RUNTIME)
        "--format",
        "docker",  # the OCI format has no HEALTHCHECK
        *mounts,
        "--build-arg",
        f"BASE={base}",
        "--tag",
        TAG,
        str(ROOT),
        timeout=600,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    yield TAG
    podman("rmi", "--force", TAG)


@dataclass
class Container:
    """A running container: its name, its published URL, the attached podman."""

    name: str
    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def container(image: str, env: dict[str, str], log: Path) -> Iterator[Container]:
    """Run ``image`` as the pod would (its variables, its limits) in the block."""
    port = free_port()
    name = f"echo-model-test-{port}"
    variables = [part for k, v in env.items() for part in ("--env", f"{k}={v}")]
    argv = [
        str(PODMAN),
        *RUNTIME,
        "run",
        "--rm",
        "--name",
        name,
        *LIMITS,
        *HARDENING,
        "--health-interval",
        "disable",  # podman's timers need systemd; the test runs the check
        "--publish",
        f"127.0.0.1:{port}:8000",
        *variables,
        image,
    ]
    with log.open("w") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, url, 60, log.read_text)
        yield Container(name, url, process)
    finally:
        podman("rm", "--force", "--time", "0", name)
        process.wait(30)


def pod_env() -> dict[str, str]:
    return pod_environment(server_container(read_manifests()), KEY)


def test_image_without_a_key_refuses_to_start(image: str) -> None:
    result = podman("run", "--rm", *LIMITS, image)
    assert result.returncode == 1
    assert "refusing to serve --host 0.0.0.0 without an API key" in result.stderr


def test_image_runs_as_the_pod_does(image: str, tmp_path: Path) -> None:
    with container(image, pod_env(), tmp_path / "log") as running:
        name, url = running.name, running.url
        assert httpx.get(url + "/health").json()["status"] == "ok"
        assert podman("healthcheck", "run", name).returncode == 0
        user = read_image().user.partition(":")[0]
        assert podman("exec", name, "id", "-u").stdout.strip() == user != "0"
        assert httpx.post(url + "/echo/invoke", json={"input": "hi"}).status_code == 401
        reply = httpx.post(
            url + "/echo/stream",
            json={"input": "hey"},
            headers={"Authorization": f"Bearer {KEY}"},
        )
        assert reply.text.count("event: data") == 4  # h, e, y and the last chunk


async def test_sigterm_to_the_container_drains_open_streams(
    image: str, tmp_path: Path
) -> None:
    body = {"input": "x" * 30, "config": {"configurable": {"token_delay": 0.05}}}
    events: list[str] = []
    with container(image, pod_env(), tmp_path / "log") as running:
        url = running.url
        async with (
            httpx.AsyncClient(timeout=30) as client,
            client.stream(
                "POST",
                url + "/echo/stream",
                json=body,
                headers={"Authorization": f"Bearer {KEY}"},
            ) as response,
        ):
            async for line in response.aiter_lines():
                if not line.startswith("event:"):
                    continue
                events.append(line.removeprefix("event: "))
                if events == ["metadata", "data"]:
                    # What the kubelet does after preStop: SIGTERM to PID 1.
                    stop = podman("kill", "--signal", "TERM", running.name)
                    assert stop.returncode == 0, stop.stderr
        # `podman run` (attached) exits with the container's exit code.
        exit_code = await asyncio.to_thread(running.process.wait, 30)
    assert events.count("data") == 31
    assert events[-1] == "end"
    assert exit_code == 0
