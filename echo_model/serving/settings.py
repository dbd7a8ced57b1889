"""Server settings: one declaration, read from flags, ``ECHO_*`` variables, defaults.

``Settings`` is a ``pydantic-settings`` model: each field declares its type,
range, default and help once, and from that come its ``--flag`` (its name
with dashes), its environment variable (``ECHO_`` and its name in capitals,
unless the field names another) and the check of its value. A flag wins over
its variable, a variable over the default; a value out of range stops the
server at start with one line naming the flag, the variable and the range.

The model's defaults (``n``, the delays and spreads, the latency seed) take
their default and bounds from ``EchoChatModel``'s fields, so the server cannot
offer a default the model would refuse.

The server's own API key is ``ECHO_SERVER_API_KEY`` (``--api-key``):
``ECHO_API_KEY`` belongs to the model (``EchoChatModel.api_key``), so a shell
that sets it for the model does not lock the server (the command line refuses
to start open with it set; see ``echo_model.serving.cli``).

Parsing stays with ``argparse``, built from the fields: pydantic-settings' own
command-line source names an aliased field's flag after its alias, shows no
variables in ``--help`` and reports a bad value as a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NoReturn

from annotated_types import GroupedMetadata
from pydantic import Field, SecretStr, Strict, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from echo_model.chat_models import EchoChatModel
from echo_model.serving.core.fault_spec import Fault, parse_fault
from echo_model.serving.core.limits import Limits

ENV_PREFIX = "ECHO_"
LOOPBACK_HOSTS = frozenset(["127.0.0.1", "localhost", "::1"])
PROGRAM = "echo-server"


@dataclass(frozen=True)
class ModelBounds(GroupedMetadata):
    """The bounds of ``EchoChatModel``'s field ``name``, for a setting of it.

    Strictness is left out: settings arrive as text (``--n 5``, ``ECHO_N=5``).
    """

    name: str

    def __iter__(self) -> Iterator[Any]:
        """Yield the model field's constraints (``Ge(0)``, ``Le(0.01)``, ...)."""
        for item in EchoChatModel.model_fields[self.name].metadata:
            if not isinstance(item, Strict):
                yield item


def model_field(name: str, description: str) -> Any:
    """Return a setting's field whose default is ``EchoChatModel``'s ``name``'s."""
    return Field(EchoChatModel.model_fields[name].default, description=description)


class Settings(BaseSettings):
    """Server settings; each has a ``--flag`` and an environment variable.

    ``Settings(...)`` holds exactly what it is given (tests build their own);
    ``parse_settings`` reads the flags and variables.

    Attributes:
        host: Interface to bind.
        port: TCP port to listen on.
        workers: Number of uvicorn worker processes.
        log_level: uvicorn log level.
        access_log: Whether uvicorn logs every request.
        graceful_timeout: Seconds in-flight requests get to finish on shutdown.
        timeout_keep_alive: Seconds an idle keep-alive connection stays open.
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
        fault: A fault injected into model requests (``X-Echo-Fault``'s grammar).
        context_window: Prompts over this many tokens are refused.
        fixtures: An aimock fixture file or folder answering before the echo.
        strict: Whether a request no fixture matches gets an error.
        record, proxy_only, upstream, upstream_api_key: Record and replay:
            misses are forwarded to ``upstream`` (with its key) and, with
            ``record``, saved as fixtures.
    """

    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", min_length=1, description="interface to bind")
    port: int = Field(8000, ge=1, le=65535, description="TCP port")
    workers: int = Field(1, ge=1, description="uvicorn worker processes")
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = (
        Field("info", description="uvicorn log level")
    )
    access_log: bool = Field(
        False, description="log every request (costs ~10% of req/s)"
    )
    graceful_timeout: float = Field(
        30.0, ge=0, description="seconds in-flight streams get to finish on SIGTERM"
    )
    timeout_keep_alive: int = Field(
        75,
        ge=1,
        description="seconds an idle keep-alive connection stays open; longer"
        " than clients keep idle pooled connections (httpx 5 s, aiohttp 15 s), so"
        " the client closes first and never reuses one the server is closing",
    )
    api_key: SecretStr | None = Field(
        None,
        description="require this key on every model route (default: none)",
        json_schema_extra={"env": "ECHO_SERVER_API_KEY"},
    )
    allow_unauthenticated: bool = Field(
        False,
        description="serve a non-loopback --host without an API key (open to all)",
    )
    max_body_bytes: int = Field(
        Limits.max_body_bytes, ge=1, description="largest request body"
    )
    max_n: int = Field(Limits.max_n, ge=0, description="largest n a request may set")
    max_messages: int = Field(
        Limits.max_messages, ge=1, description="most messages in one input"
    )
    max_batch: int = Field(
        Limits.max_batch, ge=1, description="most inputs in one batch"
    )
    max_delay: float = Field(
        Limits.max_delay,
        ge=0,
        description="largest first_token_delay or token_delay a request may set",
    )
    max_stop_sequences: int = Field(
        Limits.max_stop_sequences,
        ge=0,
        description="most stop sequences a request may set",
    )
    max_stop_length: int = Field(
        Limits.max_stop_length,
        ge=1,
        description="longest stop sequence a request may set (characters)",
    )
    n: Annotated[int, ModelBounds("n")] = model_field("n", "default echo length")
    model_name: str = Field(
        EchoChatModel.model_fields["model_name"].default,
        min_length=1,
        description="reported model name",
    )
    first_token_delay: Annotated[float, ModelBounds("first_token_delay")] = model_field(
        "first_token_delay", "default seconds before the first chunk"
    )
    token_delay: Annotated[float, ModelBounds("token_delay")] = model_field(
        "token_delay", "default seconds between chunks"
    )
    ttft_spread: Annotated[float, ModelBounds("ttft_spread")] = model_field(
        "ttft_spread", "default spread (std dev, s) of the time to first token"
    )
    itl_spread: Annotated[float, ModelBounds("itl_spread")] = model_field(
        "itl_spread", "default spread (std dev, s) of the inter-token latency"
    )
    prefill_per_token: Annotated[float, ModelBounds("prefill_per_token")] = model_field(
        "prefill_per_token", "default seconds of prefill per input token"
    )
    latency_seed: Annotated[int | None, ModelBounds("latency_seed")] = model_field(
        "latency_seed", "default seed of the latency draws"
    )
    max_num_seqs: int | None = Field(
        None, ge=1, description="replies running at once per worker; more queue"
    )
    step_growth: float = Field(
        0.0,
        ge=0,
        description="gap stretch per running reply: gap*(1+g*(running-1))",
    )
    fault: str | None = Field(
        None,
        description="inject this fault into model requests, in X-Echo-Fault's"
        " grammar (e.g. 'status=503; rate=0.1; seed=7'; docs/faults.md)",
    )
    context_window: int | None = Field(
        None, ge=1, description="refuse prompts over this many tokens (400)"
    )
    # Scripted replies (docs/fixtures.md).
    fixtures: str | None = Field(
        None, description="aimock fixture file or folder answering before the echo"
    )
    strict: bool = Field(
        False, description="a request no fixture matches gets an error, not the echo"
    )
    # Record and replay (docs/fixtures.md): misses go to --upstream.
    record: bool = Field(
        False, description="forward misses to --upstream, save fixtures in --fixtures"
    )
    proxy_only: bool = Field(
        False, description="forward misses to --upstream, save nothing"
    )
    upstream: str | None = Field(
        None, description="provider root URL misses are forwarded to"
    )
    upstream_api_key: SecretStr | None = Field(
        None, description="the key sent to --upstream"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read only the arguments: ``parse_settings`` adds variables and flags."""
        return (init_settings,)

    @field_validator("fault")
    @classmethod
    def _fault_in_the_header_grammar(cls, value: str | None) -> str | None:
        if value:
            parse_fault(value)  # FaultSpecError is a ValueError saying what is wrong
        return value

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
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value is not None:
                variables[env_name(name)] = str(value)
        return variables


def env_name(name: str) -> str:
    """Return the environment variable of the ``Settings`` field ``name``."""
    extra = Settings.model_fields[name].json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("env"), str):
        return str(extra["env"])
    return ENV_PREFIX + name.upper()


def flag_name(name: str) -> str:
    """Return the command-line flag of the ``Settings`` field ``name``."""
    return "--" + name.replace("_", "-")


class Variables(PydanticBaseSettingsSource):
    """A pydantic-settings source: the settings' variables in ``environ``.

    Each field is read from its own variable (``env_name``), by exact name,
    as the text it holds; an empty variable counts as unset.
    """

    def __init__(
        self, settings_cls: type[BaseSettings], environ: Mapping[str, str]
    ) -> None:
        super().__init__(settings_cls)
        self.environ = environ

    def get_field_value(
        self, field: FieldInfo, field_name: str
    ) -> tuple[Any, str, bool]:
        """Return the text of ``field_name``'s variable (``None``: unset)."""
        return self.environ.get(env_name(field_name)) or None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """Return ``{field name: text}`` for every field whose variable is set."""
        values = {}
        for name, info in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(info, name)
            if value is not None:
                values[key] = value
        return values


class SettingsError(ValueError):
    """A setting's value out of its range: one line, naming flag and variable."""


def parse_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build Settings from flags, falling back to environment variables, then defaults.

    A bad value (a flag's or a variable's) stops the program with one line
    naming the flag, the variable and the allowed values, and exit code 2.

    Args:
        argv: Command-line arguments (``sys.argv[1:]`` when ``None``).
        environ: Environment variables (``os.environ`` when ``None``).
    """
    environ = os.environ if environ is None else environ
    variables = Variables(Settings, environ)()
    try:
        check_variables(variables)  # first: even ``--help`` says a variable is bad
        flags = vars(argument_parser().parse_args(argv))
        return settings_from(flags, variables)
    except SettingsError as error:
        stop(str(error))


def stop(message: str) -> NoReturn:
    """Stop the program at start: ``echo-server: message`` on stderr, exit 2."""
    sys.stderr.write(f"{PROGRAM}: {message}\n")
    raise SystemExit(2)


def settings_from(flags: Mapping[str, Any], variables: Mapping[str, Any]) -> Settings:
    """Return the settings the flags give, then the variables, then the defaults.

    Raises:
        SettingsError: A value out of its setting's range, named by where it
            came from. A variable is checked even when its flag is given.
    """
    check_variables(variables)
    try:
        return Settings(**{**variables, **flags})
    except ValidationError as error:
        raise _problem(error, flags, from_flag=True) from None


def check_variables(variables: Mapping[str, Any]) -> None:
    """Check the variables' values alone (a flag may override them later).

    Raises:
        SettingsError: A value out of its setting's range, naming the variable.
    """
    try:
        Settings(**variables)
    except ValidationError as error:
        raise _problem(error, variables, from_flag=False) from None


def _problem(
    error: ValidationError, given: Mapping[str, Any], *, from_flag: bool
) -> SettingsError:
    """Say in one line which setting is wrong, where it came from, what it takes."""
    first = error.errors(include_url=False)[0]
    name = str(first["loc"][0]) if first["loc"] else ""
    if name not in Settings.model_fields:
        return SettingsError(first["msg"])
    value = given.get(name, first.get("input"))
    if from_flag:
        where = f"{flag_name(name)} {value}"
        also = env_name(name)
    else:
        where = f"{env_name(name)}={value!r}"
        also = flag_name(name)
    if name == "fault":  # a grammar, not a range: say what the grammar found
        reason = str(first.get("ctx", {}).get("error", first["msg"]))
        return SettingsError(f"--fault / ECHO_FAULT: {reason} (docs/faults.md)")
    return SettingsError(f"{where}: must be {allowed(name)} ({also})")


def allowed(name: str) -> str:
    """Return what the setting ``name`` takes: ``an integer 1..65535``, ..."""
    schema = Settings.model_json_schema()["properties"][name]
    options = schema.get("anyOf", [schema])
    texts = [_allowed(option) for option in options if option.get("type") != "null"]
    if len(texts) < len(options):
        texts.append("unset")
    return " or ".join(texts)


def _allowed(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    kind = {
        "integer": "an integer",
        "number": "a number",
        "boolean": "a boolean (1/0, true/false, yes/no, on/off)",
        "string": "a string",
    }.get(schema.get("type", ""), "a value")
    low = schema.get("minimum", schema.get("minLength"))
    high = schema.get("maximum")
    if schema.get("type") == "string":
        return kind + (" (not empty)" if low else "")
    if low is not None and high is not None:
        return f"{kind} {low:g}..{high:g}"
    if low is not None:
        return f"{kind} >= {low:g}"
    if high is not None:
        return f"{kind} <= {high:g}"
    return kind


def argument_parser() -> argparse.ArgumentParser:
    """Return the command line's parser, one flag per ``Settings`` field.

    A flag not given is left out of the parsed namespace (its variable or
    default applies); values stay text until ``Settings`` checks them.
    """
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Serve EchoChatModel over HTTP.",
        argument_default=argparse.SUPPRESS,
    )
    for name, info in Settings.model_fields.items():
        details = [f"env {env_name(name)}"]
        takes = allowed(name)
        if takes.startswith(("an integer", "a number", "one of")):
            details.append(takes.removeprefix("a ").removeprefix("an "))
        if info.annotation != SecretStr | None:  # a secret's default is not shown
            details.append(_shown_default(info))
        help_text = f"{info.description} ({', '.join(details)})".replace("%", "%%")
        if info.annotation is bool:
            parser.add_argument(
                flag_name(name), action=argparse.BooleanOptionalAction, help=help_text
            )
        else:
            parser.add_argument(
                flag_name(name), metavar=name.upper(), dest=name, help=help_text
            )
    return parser


def _shown_default(info: FieldInfo) -> str:
    if info.default is None:
        return "default none"
    if isinstance(info.default, bool):
        return "default on" if info.default else "default off"
    return f"default {info.default}"
