"""Server settings: one declaration, read from flags, ``ECHO_*`` variables, defaults.

Each field of ``Settings`` is a ``--flag`` (its name with dashes) and an
environment variable (``ECHO_`` and its name in capitals, unless the field
names another in its metadata). A flag wins over its variable, a variable over
the default. The server's own API key is ``ECHO_SERVER_API_KEY`` (``--api-key``):
``ECHO_API_KEY`` belongs to the model (``EchoChatModel.api_key``), so a shell
that sets it for the model does not lock the server.
"""

from __future__ import annotations

import argparse
import os
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import Field, dataclass, field, fields
from typing import Any

from pydantic import SecretStr

from echo_model.serving.core.fault_spec import Fault, FaultSpecError, parse_fault
from echo_model.serving.core.limits import Limits

ENV_PREFIX = "ECHO_"
LOOPBACK_HOSTS = frozenset(["127.0.0.1", "localhost", "::1"])


@dataclass(frozen=True)
class Settings:
    """Server settings; each has a ``--flag`` and an environment variable.

    Attributes:
        host: Interface to bind.
        port: TCP port to listen on.
        workers: Number of uvicorn worker processes.
        log_level: uvicorn log level.
        access_log: Whether uvicorn logs every request.
        graceful_timeout: Seconds in-flight requests get to finish on shutdown.
        api_key: When set, every model route requires this key
            (``ECHO_SERVER_API_KEY``).
        allow_unauthenticated: Whether to serve a non-loopback host without an
            API key (the server refuses to start that way otherwise).
        max_body_bytes, max_n, max_messages, max_batch, max_delay,
            max_stop_sequences, max_stop_length: Request limits (see
            ``echo_model.serving.core.limits.Limits``).
        n: Default echo length (clients may override it per request).
        model_name: Model name reported in response metadata.
        first_token_delay: Default simulated seconds before the first chunk.
        token_delay: Default simulated seconds between chunks.
        ttft_spread, itl_spread: Default spreads (standard deviations, seconds)
            of the time to first token and of each inter-token latency.
        prefill_per_token: Default simulated seconds per input token.
        latency_seed: Default seed of the latency draws (none: fresh draws).
        max_num_seqs: Replies running at once per worker; more wait in a queue
            (none: no limit).
        step_growth: How much each running reply stretches every other's
            inter-token gaps (``gap * (1 + step_growth * (running - 1))``).
    """

    host: str = field(default="127.0.0.1", metadata={"help": "interface to bind"})
    port: int = field(default=8000, metadata={"help": "TCP port"})
    workers: int = field(default=1, metadata={"help": "uvicorn worker processes"})
    log_level: str = field(
        default="info",
        metadata={
            "help": "uvicorn log level",
            "choices": ["critical", "error", "warning", "info", "debug", "trace"],
        },
    )
    access_log: bool = field(
        default=False, metadata={"help": "log every request (costs ~10%% of req/s)"}
    )
    graceful_timeout: float = field(
        default=30.0,
        metadata={"help": "seconds in-flight streams get to finish on SIGTERM"},
    )
    api_key: SecretStr | None = field(
        default=None,
        metadata={
            "help": "require this key on every model route (default: none)",
            "env": "ECHO_SERVER_API_KEY",
        },
    )
    allow_unauthenticated: bool = field(
        default=False,
        metadata={
            "help": "serve a non-loopback --host without an API key (open to all)"
        },
    )
    max_body_bytes: int = field(
        default=Limits.max_body_bytes, metadata={"help": "largest request body"}
    )
    max_n: int = field(
        default=Limits.max_n, metadata={"help": "largest n a request may set"}
    )
    max_messages: int = field(
        default=Limits.max_messages, metadata={"help": "most messages in one input"}
    )
    max_batch: int = field(
        default=Limits.max_batch, metadata={"help": "most inputs in one batch"}
    )
    max_delay: float = field(
        default=Limits.max_delay,
        metadata={"help": "largest first_token_delay or token_delay a request may set"},
    )
    max_stop_sequences: int = field(
        default=Limits.max_stop_sequences,
        metadata={"help": "most stop sequences a request may set"},
    )
    max_stop_length: int = field(
        default=Limits.max_stop_length,
        metadata={"help": "longest stop sequence a request may set (characters)"},
    )
    n: int = field(default=1000, metadata={"help": "default echo length"})
    model_name: str = field(default="echo", metadata={"help": "reported model name"})
    first_token_delay: float = field(
        default=0.0, metadata={"help": "default seconds before the first chunk"}
    )
    token_delay: float = field(
        default=0.0, metadata={"help": "default seconds between chunks"}
    )
    ttft_spread: float = field(
        default=0.0,
        metadata={"help": "default spread (std dev, s) of the time to first token"},
    )
    itl_spread: float = field(
        default=0.0,
        metadata={"help": "default spread (std dev, s) of the inter-token latency"},
    )
    prefill_per_token: float = field(
        default=0.0, metadata={"help": "default seconds of prefill per input token"}
    )
    latency_seed: int | None = field(
        default=None, metadata={"help": "default seed of the latency draws"}
    )
    max_num_seqs: int | None = field(
        default=None,
        metadata={"help": "replies running at once per worker; more queue"},
    )
    step_growth: float = field(
        default=0.0,
        metadata={"help": "gap stretch per running reply: gap*(1+g*(running-1))"},
    )
    fault: str | None = field(
        default=None,
        metadata={
            "help": "inject this fault into model requests, in X-Echo-Fault's"
            " grammar (e.g. 'status=503; rate=0.1; seed=7'; docs/faults.md)"
        },
    )
    context_window: int | None = field(
        default=None,
        metadata={"help": "refuse prompts over this many tokens (400)"},
    )
    # Scripted replies (issue 22; docs/fixtures.md).
    fixtures: str | None = field(
        default=None,
        metadata={"help": "aimock fixture file or folder answering before the echo"},
    )
    strict: bool = field(
        default=False,
        metadata={"help": "a request no fixture matches gets an error, not the echo"},
    )
    # Record and replay (docs/fixtures.md): misses go to --upstream.
    record: bool = field(
        default=False,
        metadata={"help": "forward misses to --upstream, save fixtures in --fixtures"},
    )
    proxy_only: bool = field(
        default=False, metadata={"help": "forward misses to --upstream, save nothing"}
    )
    upstream: str | None = field(
        default=None, metadata={"help": "provider root URL misses are forwarded to"}
    )
    upstream_api_key: SecretStr | None = field(
        default=None, metadata={"help": "the key sent to --upstream"}
    )

    def server_fault(self) -> Fault | None:
        """Return the ``--fault`` flag's fault (``None``: none)."""
        return parse_fault(self.fault) if self.fault else None

    def limits(self) -> Limits:
        """Return the request limits these settings fix."""
        return Limits(
            max_body_bytes=self.max_body_bytes,
            max_n=self.max_n,
            max_messages=self.max_messages,
            max_batch=self.max_batch,
            max_delay=self.max_delay,
            max_stop_sequences=self.max_stop_sequences,
            max_stop_length=self.max_stop_length,
        )

    def model_defaults(self) -> dict[str, Any]:
        """Return the EchoChatModel fields these settings fix."""
        return {
            "n": self.n,
            "model_name": self.model_name,
            "first_token_delay": self.first_token_delay,
            "token_delay": self.token_delay,
            "ttft_spread": self.ttft_spread,
            "itl_spread": self.itl_spread,
            "prefill_per_token": self.prefill_per_token,
            "latency_seed": self.latency_seed,
        }

    def engine_options(self) -> dict[str, Any]:
        """Return the ``echo_model.engine.Engine`` options these settings fix."""
        return {"max_num_seqs": self.max_num_seqs, "step_growth": self.step_growth}

    def environment(self) -> dict[str, str]:
        """Return the variables that give these settings (secrets in the clear).

        Worker processes build their app from the environment: handing them the
        settings this way makes flags and variables mean the same everywhere.
        """
        variables = {}
        for setting in fields(self):
            value = getattr(self, setting.name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value is not None:
                variables[env_name(setting)] = str(value)
        return variables


def env_name(setting: Field[Any]) -> str:
    """Return the environment variable of a ``Settings`` field."""
    return setting.metadata.get("env", ENV_PREFIX + setting.name.upper())


def parse_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build Settings from flags, falling back to environment variables, then defaults.

    Args:
        argv: Command-line arguments (``sys.argv[1:]`` when ``None``).
        environ: Environment variables (``os.environ`` when ``None``).
    """
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="echo-server", description="Serve EchoChatModel over HTTP."
    )
    types_by_name = typing.get_type_hints(Settings)
    for setting in fields(Settings):
        variable = env_name(setting)
        parse = _parser_for(types_by_name[setting.name])
        default = setting.default
        if variable in environ:
            try:
                default = parse(environ[variable])
            except ValueError:
                kind = "bool" if parse is parse_bool else parse.__name__
                parser.error(f"{variable}={environ[variable]!r} is not a valid {kind}")
        is_secret = parse is SecretStr
        parser.add_argument(
            "--" + setting.name.replace("_", "-"),
            **(
                {"action": argparse.BooleanOptionalAction}
                if parse is parse_bool
                else {"type": parse}
            ),
            default=default,
            choices=setting.metadata.get("choices"),
            help=f"{setting.metadata['help']} (env {variable}"
            + (")" if is_secret else ", default %(default)s)"),
        )
    settings = Settings(**vars(parser.parse_args(argv)))
    try:
        settings.server_fault()
    except FaultSpecError as error:
        parser.error(f"--fault / ECHO_FAULT: {error}")
    return settings


def _parser_for(annotation: Any) -> Callable[[str], Any]:
    """Return the function that parses a flag's text into a value of ``annotation``."""
    if isinstance(annotation, types.UnionType):  # ``X | None``: parse as X
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if annotation is bool:
        return parse_bool
    if annotation in (int, float, str, SecretStr):
        return annotation
    msg = f"no flag parser for settings of type {annotation!r}"
    raise TypeError(msg)


def parse_bool(text: str) -> bool:
    """Parse a boolean environment value (``1/true/yes/on`` or ``0/false/no/off``)."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(text)
