"""Clients pointed at a test echo server, each sending a test's options its own way.

LangServe takes the simulation options as ``config.configurable``; the OpenAI
and Anthropic routes as an ``echo`` object in the body (the SDKs'
``extra_body``). The fault, when there is one, is the ``X-Echo-Fault`` header
on every request, whatever the protocol.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from echo_model.testing.options import EchoOptions
from echo_model.testing.server import EchoServer

if TYPE_CHECKING:
    from langchain_anthropic import ChatAnthropic
    from langchain_core.runnables import Runnable
    from langchain_openai import ChatOpenAI

#: The model name the chat clients send (the server answers to any name).
MODEL_NAME = "echo"

#: A key for SDKs that insist on one when the server was started open.
NO_KEY = "no-key"


def require(module: str, package: str, fixture: str) -> None:
    """Skip the test, saying what to install, if ``module`` cannot be imported."""
    try:
        importlib.import_module(module)
    except ImportError:
        pytest.skip(
            f"{fixture} needs {package}: pip install {package}"
            f" (or echo-model[test]); {module} could not be imported"
        )


def chat_openai(server: EchoServer, options: EchoOptions) -> ChatOpenAI:
    """Return a ``ChatOpenAI`` on the server's ``/v1`` routes with ``options``."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=server.openai_base_url,
        api_key=server.api_key or NO_KEY,
        model=MODEL_NAME,
        extra_body=options.body or None,
        default_headers=options.headers or None,
    )


def chat_anthropic(server: EchoServer, options: EchoOptions) -> ChatAnthropic:
    """Return a ``ChatAnthropic`` on the server's ``/v1/messages`` with ``options``."""
    from langchain_anthropic import ChatAnthropic

    extra: dict[str, Any] = {"extra_body": options.body} if options.body else {}
    return ChatAnthropic(
        base_url=server.anthropic_base_url,
        api_key=server.api_key or NO_KEY,
        model=MODEL_NAME,
        # ChatAnthropic passes model_kwargs on to the SDK's messages.create.
        model_kwargs=extra,
        default_headers=options.headers or None,
    )


def remote_runnable(server: EchoServer, options: EchoOptions) -> Runnable:
    """Return a ``RemoteRunnable`` on the LangServe route, bound to ``options``.

    With simulation options it is ``RemoteRunnable(...).with_config(
    configurable=...)``, since LangServe takes them as configurable fields only.
    """
    from langserve import RemoteRunnable

    remote: Runnable = RemoteRunnable(
        server.langserve_url, headers={**server.auth_headers, **options.headers}
    )
    if options.simulation:
        return remote.with_config(configurable=dict(options.simulation))
    return remote


def http_client(server: EchoServer, options: EchoOptions) -> httpx.Client:
    """Return an ``httpx.Client`` on the server's root with the key and fault."""
    return httpx.Client(
        base_url=server.url,
        headers={**server.auth_headers, **options.headers},
        timeout=30.0,
    )


def async_http_client(server: EchoServer, options: EchoOptions) -> httpx.AsyncClient:
    """Return an ``httpx.AsyncClient`` on the server's root with the key and fault.

    It keeps no idle connection, so none outlives the event loop of the test
    that used it, and closing it afterwards (on another loop) is safe.
    """
    return httpx.AsyncClient(
        base_url=server.url,
        headers={**server.auth_headers, **options.headers},
        timeout=30.0,
        limits=httpx.Limits(max_keepalive_connections=0),
    )
