"""Serialization and the API key: round trips, and the secret never shows."""

from __future__ import annotations

import logging

import pytest
from langchain_core.globals import set_debug, set_verbose
from langchain_core.load import dumpd, dumps, load, loads
from pydantic import SecretStr

from echo_model import EchoChatModel

SECRET = "sk-echo-do-not-print-4f1c"  # noqa: S105 - a test value, meant to leak-check


def test_api_key_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ECHO_API_KEY", SECRET)
    model = EchoChatModel()
    assert isinstance(model.api_key, SecretStr)
    assert model.api_key.get_secret_value() == SECRET


def test_api_key_is_optional(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECHO_API_KEY", raising=False)
    assert EchoChatModel().api_key is None


def test_api_key_is_declared_as_an_lc_secret() -> None:
    assert EchoChatModel().lc_secrets == {"api_key": "ECHO_API_KEY"}


def test_secret_never_in_repr_str_or_dumps() -> None:
    model = EchoChatModel(api_key=SECRET)
    assert SECRET not in repr(model)
    assert SECRET not in str(model)
    assert SECRET not in dumps(model)
    assert SECRET not in str(dumpd(model))
    assert SECRET not in str(model.dict())
    assert SECRET not in model.model_dump_json()


def test_secret_never_in_debug_output_or_logs(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    model = EchoChatModel(api_key=SECRET, n=2)
    caplog.set_level(logging.DEBUG)
    set_debug(True)
    set_verbose(True)
    try:
        model.invoke("hello")
        list(model.stream("hello"))
    finally:
        set_debug(False)
        set_verbose(False)
    out = capsys.readouterr()
    assert "EchoChatModel" in out.out  # the debug tracer did print the run
    assert SECRET not in out.out + out.err
    assert SECRET not in caplog.text


def test_round_trip_through_dumps_and_loads_without_the_secret() -> None:
    model = EchoChatModel(
        model="m", n=7, stop=["x"], max_tokens=5, token_delay=0.0, api_key=SECRET
    )
    text = dumps(model)
    loaded = loads(
        text,
        valid_namespaces=["echo_model"],
        allowed_objects=[EchoChatModel],
        secrets_map={"ECHO_API_KEY": "from-the-loader"},
    )
    assert isinstance(loaded, EchoChatModel)
    assert loaded.dict() == model.dict()
    assert loaded.invoke("hello wxrld").content == model.invoke("hello wxrld").content
    # The secret travels as a reference, resolved by whoever loads it.
    assert loaded.api_key is not None
    assert loaded.api_key.get_secret_value() == "from-the-loader"


def test_round_trip_with_dumpd_and_load() -> None:
    model = EchoChatModel(n=3)
    loaded = load(
        dumpd(model), valid_namespaces=["echo_model"], allowed_objects=[EchoChatModel]
    )
    assert loaded.invoke("hello").content == "hel"
