"""Settings: one declaration read from flags, environment variables and defaults."""

from __future__ import annotations

from dataclasses import fields

import pytest
from pydantic import SecretStr

from echo_model.serving.settings import (
    Settings,
    _parser_for,
    env_name,
    parse_bool,
    parse_settings,
)


def test_defaults() -> None:
    assert parse_settings([], environ={}) == Settings()


def test_a_flag_wins_over_its_variable_which_wins_over_the_default() -> None:
    environ = {"ECHO_PORT": "9001", "ECHO_N": "7"}
    settings = parse_settings(["--port", "9002"], environ=environ)
    assert (settings.port, settings.n) == (9002, 7)


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
    )
    assert parse_settings([], environ=settings.environment()) == settings
    assert set(settings.environment()) <= {env_name(f) for f in fields(Settings)}


def test_booleans_take_flags_and_words() -> None:
    assert parse_settings(["--access-log"], environ={}).access_log is True
    environ = {"ECHO_ACCESS_LOG": "yes"}
    assert parse_settings(["--no-access-log"], environ=environ).access_log is False
    assert parse_settings([], environ=environ).access_log is True
    with pytest.raises(ValueError, match="maybe"):
        parse_bool("maybe")


def test_a_bad_variable_is_an_error_naming_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        parse_settings([], environ={"ECHO_MAX_DELAY": "soon"})
    assert "ECHO_MAX_DELAY='soon' is not a valid float" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("annotation", "text", "value"),
    [
        (float | None, "1.5", 1.5),
        (int | None, "3", 3),
        (str, "x", "x"),
        (bool, "on", True),
        (SecretStr | None, "s", SecretStr("s")),
    ],
)
def test_types_are_parsed_from_the_annotation_itself(
    annotation: object, text: str, value: object
) -> None:
    # Optional types were looked up by the string of their annotation, and a
    # `float | None` setting raised KeyError.
    assert _parser_for(annotation)(text) == value
