"""Settings: one declaration read from flags, environment variables and defaults."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import SecretStr, TypeAdapter, ValidationError

from echo_model.chat_models import EchoChatModel
from echo_model.serving.core.options import option_type
from echo_model.serving.settings import (
    Settings,
    allowed,
    argument_parser,
    env_name,
    parse_settings,
)
from tests.support.processes import ROOT

#: Settings whose default and bounds are the model's own fields'.
MODEL_FIELDS = [
    "n",
    "first_token_delay",
    "token_delay",
    "ttft_spread",
    "itl_spread",
    "prefill_per_token",
    "latency_seed",
]


def test_defaults() -> None:
    assert parse_settings([], environ={}) == Settings()


def test_settings_hold_what_they_are_given_not_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ECHO_PORT", "9001")
    assert Settings().port == 8000
    assert Settings(port=9003).port == 9003
    assert parse_settings([]).port == 9001  # os.environ when none is given


def test_a_flag_wins_over_its_variable_which_wins_over_the_default() -> None:
    environ = {"ECHO_PORT": "9001", "ECHO_N": "7"}
    settings = parse_settings(["--port", "9002"], environ=environ)
    assert (settings.port, settings.n, settings.workers) == (9002, 7, 1)


def test_the_server_key_is_echo_server_api_key_not_the_model_s() -> None:
    assert parse_settings([], environ={"ECHO_API_KEY": "model-key"}).api_key is None
    settings = parse_settings([], environ={"ECHO_SERVER_API_KEY": "server-key"})
    assert settings.api_key == SecretStr("server-key")
    assert parse_settings(["--api-key", "flag-key"], environ={}).api_key == SecretStr(
        "flag-key"
    )


def test_every_setting_round_trips_through_its_environment() -> None:
    settings = Settings(
        port=1234,
        access_log=True,
        api_key=SecretStr("k"),
        max_delay=2.5,
        model_name="m",
        latency_seed=3,
        max_num_seqs=2,
        timeout_keep_alive=9,
        log_level="debug",
    )
    assert parse_settings([], environ=settings.environment()) == settings
    assert set(settings.environment()) <= {env_name(f) for f in Settings.model_fields}


def test_booleans_take_flags_and_words() -> None:
    assert parse_settings(["--access-log"], environ={}).access_log is True
    environ = {"ECHO_ACCESS_LOG": "yes"}
    assert parse_settings(["--no-access-log"], environ=environ).access_log is False
    assert parse_settings([], environ=environ).access_log is True
    assert parse_settings([], environ={"ECHO_ACCESS_LOG": "off"}).access_log is False
    assert parse_settings([], environ={"ECHO_ACCESS_LOG": ""}).access_log is False


@pytest.mark.parametrize("name", MODEL_FIELDS)
def test_model_defaults_and_bounds_are_the_model_s(name: str) -> None:
    field = EchoChatModel.model_fields[name]
    assert Settings.model_fields[name].default == field.default
    assert Settings().model_defaults()[name] == field.default
    schema = Settings.model_json_schema()["properties"][name]
    model_schema = TypeAdapter(option_type(name, nullable=None)).json_schema()
    for key in ("type", "anyOf", "minimum", "maximum"):
        assert schema.get(key) == model_schema.get(key), key


@pytest.mark.parametrize(
    ("argv", "environ", "line"),
    [
        (["--workers", "0"], {}, "--workers 0: must be an integer >= 1 (ECHO_WORKERS)"),
        (
            ["--port", "99999"],
            {},
            "--port 99999: must be an integer 1..65535 (ECHO_PORT)",
        ),
        (
            ["--max-body-bytes", "-1"],
            {},
            "--max-body-bytes -1: must be an integer >= 1 (ECHO_MAX_BODY_BYTES)",
        ),
        (["--n", "-5"], {}, "--n -5: must be an integer >= 0 (ECHO_N)"),
        ([], {"ECHO_N": "abc"}, "ECHO_N='abc': must be an integer >= 0 (--n)"),
        (
            ["--first-token-delay", "-1"],
            {},
            "--first-token-delay -1: must be a number >= 0 (ECHO_FIRST_TOKEN_DELAY)",
        ),
        (
            [],
            {"ECHO_PREFILL_PER_TOKEN": "1"},
            "ECHO_PREFILL_PER_TOKEN='1': must be a number 0..0.01"
            " (--prefill-per-token)",
        ),
        (
            ["--max-num-seqs", "0"],
            {},
            "--max-num-seqs 0: must be an integer >= 1 or unset (ECHO_MAX_NUM_SEQS)",
        ),
        (
            [],
            {"ECHO_LOG_LEVEL": "loud"},
            "ECHO_LOG_LEVEL='loud': must be one of critical, error, warning, info,"
            " debug, trace (--log-level)",
        ),
        (
            [],
            {"ECHO_ACCESS_LOG": "maybe"},
            "ECHO_ACCESS_LOG='maybe': must be a boolean (1/0, true/false, yes/no,"
            " on/off) (--access-log)",
        ),
        (
            ["--fault", "status=42"],
            {},
            "--fault / ECHO_FAULT: 'status' must be from 400 to 599, got 42"
            " (docs/faults.md)",
        ),
        (
            ["--timeout-keep-alive", "0"],
            {},
            "--timeout-keep-alive 0: must be an integer >= 1 (ECHO_TIMEOUT_KEEP_ALIVE)",
        ),
    ],
)
def test_a_bad_value_is_one_line_naming_flag_variable_and_range(
    argv: list[str],
    environ: dict[str, str],
    line: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_settings(argv, environ=environ)
    assert stopped.value.code == 2
    assert capsys.readouterr().err == f"echo-server: {line}\n"


def test_a_bad_variable_stops_even_under_its_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        parse_settings(["--n", "5"], environ={"ECHO_N": "abc"})
    assert "ECHO_N='abc'" in capsys.readouterr().err


def test_settings_built_in_code_are_checked_too() -> None:
    with pytest.raises(ValidationError):
        Settings(workers=0)
    with pytest.raises(ValidationError):
        Settings(no_such_setting=1)  # type: ignore[call-arg]


def test_help_lists_every_flag_with_its_variable_range_and_default() -> None:
    text = " ".join(argument_parser().format_help().split())
    for name in Settings.model_fields:
        flag = "--" + name.replace("_", "-")
        assert flag in text, flag
        assert f"env {env_name(name)}" in text, name
    assert "(env ECHO_PORT, integer 1..65535, default 8000)" in text
    assert "(env ECHO_LATENCY_SEED, integer or unset, default none)" in text
    assert "(env ECHO_ACCESS_LOG, default off)" in text
    assert allowed("workers") == "an integer >= 1"


@pytest.mark.parametrize(
    "argv",
    [
        ["--workers", "0"],
        ["--port", "99999"],
        ["--max-body-bytes", "-1"],
        ["--n", "-5"],
    ],
)
def test_the_server_stops_at_start_with_one_line_and_no_traceback(
    argv: list[str],
) -> None:
    result = subprocess.run(
        [sys.executable, "server.py", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"echo-server: {argv[0]} {argv[1]}: must be ")
