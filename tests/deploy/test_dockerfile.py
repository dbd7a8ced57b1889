"""The Dockerfile: its command, port, user and health check agree with the server."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib

from echo_model.serving.cli import main, unsafe_bind
from echo_model.serving.settings import Settings, env_name, parse_settings
from tests.deploy.files import ROOT, read_image
from tests.support.live_server import LiveServer
from tests.support.processes import free_port

IMAGE = read_image()
SETTING_VARIABLES = {env_name(name) for name in Settings.model_fields}


def test_entrypoint_is_the_server_in_exec_form() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    # A JSON list: the server is PID 1 and receives SIGTERM itself.
    (command,) = IMAGE.entrypoint
    module, _, function = scripts[command].partition(":")
    assert getattr(sys.modules[module], function) is main
    assert IMAGE.cmd is None  # extra flags come from `docker run IMAGE --flag ...`


def test_image_variables_are_server_settings() -> None:
    echo_variables = {name for name in IMAGE.env if name.startswith("ECHO_")}
    assert echo_variables <= SETTING_VARIABLES, echo_variables - SETTING_VARIABLES


def test_image_listens_on_its_exposed_port_on_all_interfaces() -> None:
    settings = parse_settings([], IMAGE.env)
    assert IMAGE.exposed == [settings.port]
    assert settings.host == "0.0.0.0"


def test_image_refuses_to_start_open_without_a_key() -> None:
    assert unsafe_bind(parse_settings([], IMAGE.env)) is not None
    with_key = {**IMAGE.env, "ECHO_SERVER_API_KEY": "k"}
    assert unsafe_bind(parse_settings([], with_key)) is None


def test_image_user_is_numeric_and_not_root() -> None:
    user, _, group = IMAGE.user.partition(":")
    assert int(user) != 0
    assert int(group) != 0


def test_cli_help_lists_every_variable_the_image_sets() -> None:
    result = subprocess.run(
        [sys.executable, "server.py", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    text = " ".join(result.stdout.split())  # as argparse wraps it or not
    for name in IMAGE.env:
        if name.startswith("ECHO_"):
            assert f"(env {name}" in text, name


def healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    """Run the Dockerfile's HEALTHCHECK command against 127.0.0.1:``port``."""
    program, *args = IMAGE.healthcheck
    assert program == "python3"
    timeout = float(IMAGE.healthcheck_options["timeout"].removesuffix("s"))
    return subprocess.run(
        [sys.executable, *args],
        env={**os.environ, **IMAGE.env, "ECHO_PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=timeout + 5,
        check=False,
    )


def test_healthcheck_passes_on_a_running_server(live_server: LiveServer) -> None:
    result = healthcheck(live_server.port)
    assert result.returncode == 0, result.stderr


def test_healthcheck_fails_when_nothing_listens() -> None:
    assert healthcheck(free_port()).returncode != 0
