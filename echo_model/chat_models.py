"""EchoChatModel: a deterministic chat model that echoes the last message.

Simulated latency follows one rule on every path (``invoke``, ``ainvoke``,
``stream``, ``astream``, ``batch``): chunk ``i`` of a reply is due on a
deadline schedule (``echo_model.latency``): prefill, then a time to first
token around ``first_token_delay``, then an inter-token latency around
``token_delay`` per chunk, where a chunk is one character of text or one whole
tool call, and the final metadata chunk does not count. A stream sends each
chunk when it is due; ``invoke`` returns when the last one is. The waits go
through the model's engine (``echo_model.engine``), which paces every reply
of the process in steps and reports their timings.
"""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import AsyncIterator, Callable, Iterator
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from typing import Any, Literal, cast

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import (
    BaseChatModel,
    LangSmithParams,
    LanguageModelInput,
)
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import invalid_tool_call, tool_call, tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langchain_core.utils import secret_from_env
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

from echo_model.echo import Echo, echo, json_echo, message_text, tool_call_echo
from echo_model.engine import DEFAULT_ENGINE, Engine, Sequence
from echo_model.faults import EchoFaultError, FixtureMissError
from echo_model.fixtures.counters import InMemorySequenceCounter, SequenceCounter
from echo_model.fixtures.loader import FixtureSource, load_fixtures
from echo_model.fixtures.matcher import FixtureRequest, match_fixture
from echo_model.fixtures.replies import fixture_calls, fixture_echo, fixture_error
from echo_model.fixtures.rules import Fixture, LiveFixtures
from echo_model.latency import LatencyModel, Schedule
from echo_model.structured import structured_output
from echo_model.tools import (
    BoundTool,
    PlannedCall,
    plan_tool_calls,
    resolve_tool_choice,
)

DEFAULT_MODEL_NAME = "echo"

#: Input schemas by (model class, schema name); see ``get_input_schema``.
_INPUT_SCHEMAS: dict[tuple[type, str], type[BaseModel]] = {}


__all__ = ["DEFAULT_MODEL_NAME", "EchoChatModel", "EchoFaultError", "EchoReply"]


class EchoChatModel(BaseChatModel):
    """Chat model that replies with the first ``n`` characters of the last message.

    Deterministic and free: made for building, testing and load-testing LangChain
    apps and streaming UIs, and as a template for wrapping a real LLM.

    A *token* is one Unicode code point. The reply streams one token per chunk,
    then a final empty chunk marked ``chunk_position="last"`` that carries the
    response metadata and the usage (so usage is counted once per stream).

    Setup:
        .. code-block:: bash

            pip install -e .  # from a checkout of echo-model
            export ECHO_API_KEY="optional"  # accepted, never needed

    Key init args — completion params:
        model: str
            Name reported in metadata and traces (alias of ``model_name``).
        n: int
            Maximum number of characters echoed.
        stop: list[str] | None
            Default stop sequences.
        max_tokens: int | None
            Also caps the reply, like ``n``.
        first_token_delay: float
            Simulated seconds before the first chunk.
        token_delay: float
            Simulated seconds between chunks (see "Latency").
        ttft_spread, itl_spread, prefill_per_token, latency_seed:
            Spread of the two delays, prefill cost, and the seed of the draws.
        engine: Engine | None
            Paces replies in steps, may queue them, reports their timings.

    Key init args — client params:
        api_key: SecretStr | None
            Read from ``ECHO_API_KEY`` if not given; never printed.
        timeout, max_retries:
            Accepted as LangChain's standard params; nothing here can time out.

    Instantiate:
        .. code-block:: python

            from echo_model import EchoChatModel

            model = EchoChatModel(n=3, model_name="my_custom_model")

    Invoke:
        .. code-block:: python

            model.invoke("hello")
            # AIMessage(content='hel', response_metadata={'model_name':
            #   'my_custom_model', 'finish_reason': 'length', ...},
            #   usage_metadata={'input_tokens': 5, 'output_tokens': 3,
            #   'total_tokens': 8})

            [m.content for m in model.batch(["hello", "goodbye"])]
            # ['hel', 'goo']

    Stream:
        .. code-block:: python

            for chunk in model.stream("cat"):
                print(chunk.content, end="|")
            # c|a|t||

    Async:
        .. code-block:: python

            await model.ainvoke("hello")  # AIMessage(content='hel', ...)
            async for chunk in model.astream("cat"):
                print(chunk.content, end="|")
            # c|a|t||

    Stop sequences:
        The reply ends after the first stop sequence it contains, which is kept
        (``include_stop_sequence=False`` drops it, as OpenAI and Anthropic do).

        .. code-block:: python

            EchoChatModel().invoke("one. two.", stop=["."]).content
            # 'one.'  (response_metadata['finish_reason'] == 'stop')

    Token usage:
        .. code-block:: python

            EchoChatModel().invoke("hello").usage_metadata
            # {'input_tokens': 5, 'output_tokens': 5, 'total_tokens': 10}

    Tool calling:
        A bound tool is called when the message writes a call to it, mentions
        it, or a call is forced (rules in ``echo_model.tools``).

        .. code-block:: python

            model = EchoChatModel().bind_tools([get_weather])
            model.invoke("get_weather(Paris)").tool_calls
            # [{'name': 'get_weather', 'args': {'location': 'Paris'}, ...}]

    Structured output:
        .. code-block:: python

            EchoChatModel().with_structured_output(Joke).invoke("cats, 7 of 10")
            # Joke(setup='cats, 7 of 10', rating=7)

    Latency:
        Chunk ``i`` is due ``prefill_per_token * input_tokens + TTFT + ITL_1
        + ... + ITL_i`` seconds after the reply starts, where a chunk is one
        character of text or one whole tool call (the final metadata chunk
        is not counted; a reply with no chunks ends when its first chunk
        would be due). The TTFT is drawn around ``first_token_delay``
        (spread ``ttft_spread``), each ITL around ``token_delay`` (spread
        ``itl_spread``), from normals cut symmetrically, seeded by
        ``latency_seed`` and the input; with no spread, exactly the delays.
        A stream sends each chunk when it is due (a stream that fell behind
        catches up, it does not drift); ``invoke`` returns when the last is
        due, so every path takes the same time. The ``engine`` may queue a
        reply (``max_num_seqs``) before its schedule starts.

        .. code-block:: python

            EchoChatModel(first_token_delay=0.5, token_delay=0.01).invoke("abc")
            # takes 0.52 s; a reply of two tool calls takes 0.51 s

    Fault injection:
        ``fail_after_chunks`` and ``error_rate`` (with ``seed``) make calls
        raise ``EchoFaultError``, for testing clients.

    Scripted replies (fixtures):
        ``fixtures`` takes aimock's chat fixture format (a file, a folder of
        them, a dict, a list of fixture dicts, or loaded ``Fixture`` rules); the
        first fixture that matches the call answers with its text, its tool
        calls or its error (``FixtureErrorReply``), and a call none matches is
        echoed as usual. The keyword arguments ``fixture_context`` and
        ``fixture_strict`` of a call override the fields of the same names.
        See ``docs/fixtures.md``.

        .. code-block:: python

            model = EchoChatModel(fixtures=[
                {"match": {"userMessage": "hi"}, "response": {"content": "Hello!"}}
            ])
            model.invoke("hi there").content  # 'Hello!'
            model.invoke("bye").content  # 'bye'

    Per-call overrides:
        These keyword arguments of ``invoke``, ``stream`` and friends (or
        ``bind``) change a call; any other is accepted and ignored (including
        the fields not listed here, such as ``temperature``, the delays and
        the fault injection).

        - ``stop=``: stop sequences (a string is one), replacing the field.
        - ``model=``: the model name reported.
        - ``n=``, ``max_tokens=``: cap the reply (the smallest cap wins).
        - ``include_stop_sequence=``: keep or drop a matched stop sequence.
        - ``tools=``: tools in OpenAI's format (``bind_tools`` sets them).
        - ``tool_choice=``: ``"auto"``, ``"none"``, ``"any"``/``"required"``,
          ``True``, a tool's name, or OpenAI's or Anthropic's dict forms.
        - ``response_format=``: ``{"type": "json_object"}`` or ``{"type":
          "json_schema", "json_schema": {"schema": ...}}`` for a JSON reply
          (``with_structured_output`` sets it).
    """

    model_config = ConfigDict(populate_by_name=True)

    model_name: str = Field(default=DEFAULT_MODEL_NAME, alias="model")
    """Model name reported in ``response_metadata`` and LangSmith traces."""

    n: int = Field(default=1000, ge=0, strict=True)
    """Maximum number of characters (tokens) echoed back."""

    stop: list[str] | None = None
    """Default stop sequences; a ``stop`` argument to a call replaces them."""

    include_stop_sequence: bool = True
    """Whether a reply ended by a stop sequence keeps it (the model's default).

    ``False`` drops it, as OpenAI's and Anthropic's APIs do (their adapters in
    the server pass ``include_stop_sequence=False`` per call); either way
    ``response_metadata["stop_sequence"]`` names the sequence that matched.
    """

    max_tokens: int | None = Field(default=None, ge=0, strict=True)
    """Standard param: caps the reply like ``n`` (the smaller of the two wins)."""

    temperature: float | None = None
    """Standard param, accepted and ignored: the echo is deterministic."""

    timeout: float | None = None
    """Standard param, accepted; there is no network call to time out."""

    max_retries: int | None = None
    """Standard param, accepted; a call never fails transiently."""

    first_token_delay: float = Field(default=0.0, ge=0)
    """Simulated latency in seconds before the first chunk (see "Latency")."""

    token_delay: float = Field(default=0.0, ge=0)
    """Simulated latency in seconds between consecutive chunks: characters of
    text, or whole tool calls (see "Latency")."""

    ttft_spread: float = Field(default=0.0, ge=0)
    """Spread (standard deviation, seconds) of the time to first token.

    Each reply draws its TTFT from a normal with mean ``first_token_delay``
    and this spread, cut to ``first_token_delay +/- min(first_token_delay,
    3 * ttft_spread)``: the mean stays ``first_token_delay`` and a draw is
    never negative. 0: exactly ``first_token_delay``.
    """

    itl_spread: float = Field(default=0.0, ge=0)
    """Spread (standard deviation, seconds) of each inter-token latency.

    Drawn per gap around ``token_delay``, cut as ``ttft_spread`` is.
    """

    prefill_per_token: float = Field(default=0.0, ge=0, le=0.01)
    """Simulated seconds of prefill per input token, before the first token."""

    latency_seed: int | None = None
    """Seed for the latency draws: the same input then gets the same timings.

    Without one, each reply draws afresh.
    """

    engine: Engine | None = Field(default=None, exclude=True)
    """The engine pacing the replies (``echo_model.engine``); not serialized.

    It runs the replies of a process in steps, may queue them
    (``max_num_seqs``), and tells its listeners (metrics) their timings.
    ``None``: the process's default engine, which never queues.
    """

    fail_after_chunks: int | None = Field(default=None, ge=0, strict=True)
    """Fault injection: when set, calls fail with ``EchoFaultError``.

    A stream fails after sending this many chunks (or before its final chunk if
    the reply is shorter); ``invoke`` fails outright. Every call fails, unless
    ``error_rate`` is set.
    """

    error_rate: float | None = Field(default=None, ge=0, le=1)
    """Fault injection: the share of calls that fail (after ``fail_after_chunks``
    chunks, default 0). With ``seed`` the draw depends only on the seed and the
    conversation, so the same input fails, or not, every time."""

    seed: int | None = None
    """Seed for ``error_rate``; without one each call draws at random."""

    streaming: bool | None = None
    """``True``: invoke streams internally; ``False``: never stream; ``None``: as asked.

    Not a plain ``bool = False``: LangChain treats an explicitly set ``False`` as
    "streaming disabled", and copies such as ``configurable_fields`` set every
    field explicitly, which would silently turn ``stream()`` into one chunk.
    """

    api_key: SecretStr | None = Field(
        default_factory=secret_from_env("ECHO_API_KEY", default=None)
    )
    """Optional API key, read from ``ECHO_API_KEY``: how a real model keeps one."""

    fixtures: Any = None
    """Scripted replies in aimock's chat fixture format (``docs/fixtures.md``).

    A path (a file, or a folder: its files in sorted order, then its
    subfolders'), a dict holding a ``fixtures`` list, a list of fixture dicts
    or ``Fixture`` rules. Read and checked when the model is built
    (``FixtureLoadError`` names the file, fixture and field of anything it
    cannot honour). A path or plain data keeps the model serializable. A
    ``LiveFixtures`` set (a server's, changed at run time) is read on every
    call instead.
    """

    fixture_context: str | None = None
    """The context of calls that name none (``fixture_context=`` per call).

    Fixtures whose match has a ``context`` answer only calls in that context,
    and each context counts ``sequenceIndex`` matches on its own.
    """

    fixture_strict: bool = False
    """Whether a call no fixture matches fails (``FixtureMissError``) instead
    of being echoed; ``fixture_strict=`` per call overrides it."""

    sequence_counter: SequenceCounter | None = Field(default=None, exclude=True)
    """Where ``sequenceIndex`` counts live; ``None``: in this model object.

    A server with several processes plugs in a store they share. Not
    serialized.
    """

    _fixture_rules: Seq[Fixture] = PrivateAttr(default_factory=list)
    _live_fixtures: LiveFixtures | None = PrivateAttr(default=None)
    _own_counter: InMemorySequenceCounter = PrivateAttr(
        default_factory=InMemorySequenceCounter
    )

    def model_post_init(self, context: Any, /) -> None:
        """Read and check ``fixtures`` once, when the model is built."""
        super().model_post_init(context)
        if isinstance(self.fixtures, LiveFixtures):
            self._live_fixtures = self.fixtures
            return
        self._fixture_rules = load_fixtures(cast("FixtureSource", self.fixtures))

    @property
    def fixture_rules(self) -> Seq[Fixture]:
        """The fixtures read from ``fixtures``, in the order they match.

        For a ``LiveFixtures`` set, the set's fixtures as they stand now.
        """
        live = self._live_fixtures
        return live.current() if live is not None else self._fixture_rules

    @property
    def fixture_counter(self) -> SequenceCounter:
        """The sequence counter in use: ``sequence_counter`` or the model's own."""
        return self.sequence_counter or self._own_counter

    @property
    def _llm_type(self) -> str:
        return "echo-chat-model"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        # Everything that changes the reply: LangChain's cache keys on these.
        return {
            "model_name": self.model_name,
            "n": self.n,
            "stop": self.stop,
            "include_stop_sequence": self.include_stop_sequence,
            "max_tokens": self.max_tokens,
            "first_token_delay": self.first_token_delay,
            "token_delay": self.token_delay,
            "ttft_spread": self.ttft_spread,
            "itl_spread": self.itl_spread,
            "prefill_per_token": self.prefill_per_token,
            "latency_seed": self.latency_seed,
            "fail_after_chunks": self.fail_after_chunks,
            "error_rate": self.error_rate,
            "seed": self.seed,
            **(
                {
                    "fixtures": repr(self.fixtures),
                    "fixture_context": self.fixture_context,
                }
                if self.fixtures is not None
                else {}
            ),
        }

    @property
    def lc_secrets(self) -> dict[str, str]:
        """Map the API key to its environment variable, so dumps never hold it."""
        return {"api_key": "ECHO_API_KEY"}

    @classmethod
    def is_lc_serializable(cls) -> bool:
        """Return True: the model round-trips through ``dumps``/``loads``."""
        return True

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        """Return the input schema: any LangChain message input.

        Derived once per class and name, not per call: LangServe asks for it on
        every request, and LangChain re-derives it each time (hashing the whole
        union of message types, about a tenth of the model's own call). No
        field of the model changes it.
        """
        key = (type(self), self.get_name("Input"))
        if key not in _INPUT_SCHEMAS:
            _INPUT_SCHEMAS[key] = cast(
                "type[BaseModel]", super().get_input_schema(config)
            )
        return _INPUT_SCHEMAS[key]

    def _get_ls_params(
        self, stop: list[str] | None = None, **kwargs: Any
    ) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="echo",
            ls_model_name=self._model_name(kwargs),
            ls_model_type="chat",
        )
        if self.temperature is not None:
            params["ls_temperature"] = self.temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if isinstance(max_tokens, int):
            params["ls_max_tokens"] = max_tokens
        if stop := (stop if stop is not None else self.stop):
            params["ls_stop"] = stop
        return params

    # --- Tools and structured output ----------------------------------------------

    def bind_tools(
        self,
        tools: Seq[dict[str, Any] | type | Callable | BaseTool],
        *,
        tool_choice: str | bool | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; see ``echo_model.tools`` for when and how they are called.

        Args:
            tools: Tools in any form LangChain accepts (``@tool`` functions,
                pydantic models, functions, JSON schemas, OpenAI tool dicts).
            tool_choice: ``"auto"`` (default), ``"any"``/``"required"``/``True``
                to force a call, a tool's name to force that tool, or
                ``"none"``; OpenAI's and Anthropic's dict forms also work.
            **kwargs: Passed on to ``bind``.

        Raises:
            ValueError: ``tool_choice`` forces a tool that is not in ``tools``,
                or is of no known form.
        """
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        resolve_tool_choice(tool_choice, [t["function"]["name"] for t in formatted])
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        method: Literal["function_calling", "json_schema", "json_mode"] = (
            "function_calling"
        ),
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """Return a runnable giving objects of ``schema``, derived from the input.

        Args:
            schema: A pydantic model, a TypedDict or a JSON schema.
            method: ``"function_calling"`` forces a tool call whose arguments are
                derived from the schema; ``"json_schema"`` replies with JSON
                derived from the schema; ``"json_mode"`` replies with the JSON
                object the message holds if it holds one, else derived JSON.
            include_raw: Also return the raw message and any parsing error.
            strict: Accepted for interface compatibility.
            **kwargs: Not supported.
        """
        if kwargs:
            msg = f"Received unsupported arguments {kwargs}"
            raise ValueError(msg)
        return structured_output(
            self, schema, method=method, include_raw=include_raw, strict=strict
        )

    # --- The four LangChain hooks -------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._result(self.reply(messages, stop, **kwargs))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._result(await self.areply(messages, stop, **kwargs))

    # --- The whole reply as plain data ----------------------------------------------

    def reply(
        self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any
    ) -> EchoReply:
        """Return the whole reply to ``messages``, as ``invoke`` would, as plain data.

        What ``_generate`` wraps in an ``AIMessage``: the same rules, delays
        and faults, without LangChain's run machinery or message objects, for
        a caller that needs only the reply (a server writing a wire format).
        Takes the keyword arguments ``invoke`` takes.

        Raises:
            EchoFaultError: The call fails on purpose (see "Fault injection").
        """
        plan = self._plan(messages, stop, kwargs)
        model_name = self._model_name(kwargs)
        with self._engine().run_sync(
            self._schedule(plan), model_name=model_name, prompt_tokens=plan.prompt
        ) as sequence:
            self._fail_if_due(plan, 0, done=True)
            sequence.sleep_until_done(plan.chunk_count)
            sequence.finished_reason = plan.echo.finish_reason
        return plan.reply(model_name)

    async def areply(
        self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any
    ) -> EchoReply:
        """Return the whole reply to ``messages``, as ``ainvoke`` would, as plain data.

        The async ``reply``: what ``_agenerate`` wraps in an ``AIMessage``.

        Raises:
            EchoFaultError: The call fails on purpose (see "Fault injection").
        """
        plan = self._plan(messages, stop, kwargs)
        model_name = self._model_name(kwargs)
        async with self._engine().run(
            self._schedule(plan), model_name=model_name, prompt_tokens=plan.prompt
        ) as sequence:
            self._fail_if_due(plan, 0, done=True)
            await sequence.wait_done(plan.chunk_count)
            sequence.finished_reason = plan.echo.finish_reason
        return plan.reply(model_name)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        # BaseChatModel reports each chunk to run_manager itself; doing it here too
        # (as LangChain's guide does) would fire every on_llm_new_token twice.
        plan = self._plan(messages, stop, kwargs)
        model_name = self._model_name(kwargs)
        schedule = self._schedule(plan)
        cut = _StreamCut.of(plan, schedule)
        with self._engine().run_sync(
            schedule, model_name=model_name, prompt_tokens=plan.prompt
        ) as sequence:
            for sent, chunk in enumerate(self._chunks(plan)):
                self._fail_if_due(plan, sent)
                if cut is not None and sent >= cut.after:
                    raise cut.error_after_sync(sequence)
                sequence.sleep_until_next()
                yield chunk
            self._fail_if_due(plan, plan.chunk_count, done=True)
            if cut is not None:
                raise cut.error_after_sync(sequence)
            if not plan.chunk_count:
                sequence.sleep_until_done(0)
            sequence.finished_reason = plan.echo.finish_reason
        yield self._final_chunk(plan, model_name)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        plan = self._plan(messages, stop, kwargs)
        model_name = self._model_name(kwargs)
        schedule = self._schedule(plan)
        cut = _StreamCut.of(plan, schedule)
        async with self._engine().run(
            schedule, model_name=model_name, prompt_tokens=plan.prompt
        ) as sequence:
            for sent, chunk in enumerate(self._chunks(plan)):
                self._fail_if_due(plan, sent)
                if cut is not None and sent >= cut.after:
                    raise await cut.error_after(sequence)
                # Waits for the chunk's step; overdue chunks go at once, and
                # the engine lets the event loop run every few (``max_burst``),
                # so no stream holds up the others.
                await sequence.next_token()
                yield chunk
            self._fail_if_due(plan, plan.chunk_count, done=True)
            if cut is not None:
                raise await cut.error_after(sequence)
            if not plan.chunk_count:
                await sequence.wait_done(0)
            sequence.finished_reason = plan.echo.finish_reason
        yield self._final_chunk(plan, model_name)

    # --- Helpers shared by the hooks -----------------------------------------------

    def _plan(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
    ) -> _Plan:
        # Every argument is checked, whichever kind of reply the call gets.
        limit = _non_negative_int(kwargs, "n", self.n)
        max_tokens = _non_negative_int(kwargs, "max_tokens", self.max_tokens)
        if max_tokens is not None:
            limit = min(limit, max_tokens)
        stop_sequences = _stop_sequences(stop if stop is not None else self.stop)
        include = kwargs.get("include_stop_sequence", self.include_stop_sequence)
        tools = [BoundTool.from_openai(t) for t in kwargs.get("tools") or []]
        text = message_text(messages[-1]) if messages else ""
        fixture = self._match_fixture(messages, tools, kwargs)
        if fixture is not None:
            resolve_tool_choice(kwargs.get("tool_choice"), [t.name for t in tools])
            fixture_tool_calls = fixture_calls(fixture, messages)
            return _Plan(
                echo=fixture_echo(fixture, messages, fixture_tool_calls),
                tool_calls=fixture_tool_calls,
                fail_at=self._fault(text, messages),
                latency_key=f"{len(messages)}:{text}",
                fixture=fixture,
            )
        calls = plan_tool_calls(
            messages, tools, kwargs.get("tool_choice", "auto"), text
        )
        if calls:
            reply = tool_call_echo(messages, calls)
        elif isinstance(response_format := kwargs.get("response_format"), dict):
            reply = json_echo(messages, response_format, text)
        else:
            reply = echo(
                messages, limit=limit, stop=stop_sequences, include_stop=bool(include)
            )
        return _Plan(
            echo=reply,
            tool_calls=calls,
            fail_at=self._fault(text, messages),
            latency_key=f"{len(messages)}:{text}",
        )

    def _match_fixture(
        self,
        messages: list[BaseMessage],
        tools: list[BoundTool],
        kwargs: dict[str, Any],
    ) -> Fixture | None:
        """The fixture answering this call, if one does (see ``docs/fixtures.md``).

        Raises:
            FixtureErrorReply: The fixture that matched scripts an error.
            FixtureMissError: None matched and the call is strict.
            ValueError: ``fixture_context`` is not a string.
        """
        strict = kwargs.get("fixture_strict", self.fixture_strict)
        rules = self.fixture_rules
        if not rules and not strict:
            return None  # the echo's own path costs nothing more
        context = kwargs.get("fixture_context", self.fixture_context)
        if context is not None and not isinstance(context, str):
            msg = f"fixture_context must be a string, got {context!r}"
            raise ValueError(msg)
        response_format = kwargs.get("response_format")
        request = FixtureRequest(
            messages=messages,
            tool_names=tuple(t.name for t in tools),
            response_format=(
                str(response_format.get("type"))
                if isinstance(response_format, dict)
                else None
            ),
            model=self._model_name(kwargs),
            context=context,
        )
        result = match_fixture(rules, request, self.fixture_counter)
        fixture = result.fixture
        if fixture is None:
            if strict:
                skipped = tuple(f.label for f in result.skipped)
                raise FixtureMissError(result.miss_reason(), skipped)
            return None
        if fixture.response.error is not None:
            raise fixture_error(fixture.response.error, fixture)
        return fixture

    def _fault(self, text: str, messages: list[BaseMessage]) -> int | None:
        """Decide once per call whether, and after how many chunks, it fails."""
        if self.error_rate is None:
            return self.fail_after_chunks
        if self.seed is None:
            draw = random.random()  # noqa: S311 - fault injection, not security
        else:
            # Seeded by the conversation: the same input fails, or not, every time.
            draw = random.Random(f"{self.seed}:{len(messages)}:{text}").random()  # noqa: S311
        return (self.fail_after_chunks or 0) if draw < self.error_rate else None

    def _fail_if_due(
        self, plan: _Plan, chunks_sent: int, *, done: bool = False
    ) -> None:
        """Raise the injected failure, if this call has one and it is due.

        Streams call this before each chunk with the number already sent, and
        with ``done=True`` before the final chunk; invoke calls it with
        ``done=True``. So a failing stream stops after ``min(fail_after_chunks,
        chunks in the reply)`` chunks and never sends its final chunk.
        """
        limit = plan.fail_at
        if limit is not None and (done or chunks_sent >= limit):
            msg = f"injected failure after {chunks_sent} chunks (limit {limit})"
            raise EchoFaultError(msg)

    def _model_name(self, kwargs: dict[str, Any]) -> str:
        model = kwargs.get("model")
        return model if isinstance(model, str) and model else self.model_name

    def _engine(self) -> Engine:
        return self.engine or DEFAULT_ENGINE

    def _schedule(self, plan: _Plan) -> Schedule:
        """When the reply's chunks are due (see "Latency").

        A fixture's ``latency`` (milliseconds before each chunk, the first
        included, as aimock waits) replaces the model's delays.
        """
        fixture = plan.fixture
        if fixture is not None and fixture.latency is not None:
            delay = fixture.latency / 1000
            return LatencyModel.from_delays(delay, delay).schedule(plan.prompt)
        latency = LatencyModel.from_delays(
            self.first_token_delay,
            self.token_delay,
            ttft_spread=self.ttft_spread,
            itl_spread=self.itl_spread,
            prefill_per_token=self.prefill_per_token,
            seed=self.latency_seed,
        )
        # Seeded by the conversation, as faults are: same input, same timings.
        return latency.schedule(plan.prompt, key=plan.latency_key)

    @staticmethod
    def _chunks(plan: _Plan) -> Iterator[ChatGenerationChunk]:
        """The reply's chunks before the final one: a character or a tool call each.

        Text comes first, then the tool calls (a fixture can have both; an echo
        has one or the other). A fixture's ``chunkSize`` puts that many
        characters in each text chunk.
        """
        text, size = plan.echo.text, plan.chunk_size
        if size == 1:
            for char in text:
                yield ChatGenerationChunk(message=AIMessageChunk(content=char))
        else:
            for start in range(0, len(text), size):
                piece = text[start : start + size]
                yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        for index, call in enumerate(plan.tool_calls):
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    tool_call_chunks=[
                        tool_call_chunk(
                            name=call.name, args=call.raw_args, id=call.id, index=index
                        )
                    ],
                )
            )

    @staticmethod
    def _metadata(reply: EchoReply) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "model_name": reply.model_name,
            "finish_reason": reply.echo.finish_reason,
            "stop_sequence": reply.echo.stop_sequence,
        }
        # Why calls are invalid, by id: a stream's aggregate cannot carry it
        # in invalid_tool_calls (LangChain rebuilds those from the chunks).
        if errors := {c.id: c.error for c in reply.tool_calls if c.error}:
            metadata["tool_call_errors"] = errors
        if reply.fixture is not None:
            metadata["fixture"] = reply.fixture
        return metadata

    @staticmethod
    def _usage(reply: Echo) -> UsageMetadata:
        return UsageMetadata(
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            total_tokens=reply.input_tokens + reply.output_tokens,
        )

    def _result(self, reply: EchoReply) -> ChatResult:
        valid = [c for c in reply.tool_calls if c.error is None]
        invalid = [c for c in reply.tool_calls if c.error is not None]
        message = AIMessage(
            content=reply.echo.text,
            tool_calls=[tool_call(name=c.name, args=c.args, id=c.id) for c in valid],
            invalid_tool_calls=[
                invalid_tool_call(name=c.name, args=c.raw_args, id=c.id, error=c.error)
                for c in invalid
            ],
            response_metadata=self._metadata(reply),
            usage_metadata=self._usage(reply.echo),
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _final_chunk(self, plan: _Plan, model_name: str) -> ChatGenerationChunk:
        return ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                chunk_position="last",
                response_metadata=self._metadata(plan.reply(model_name)),
                usage_metadata=self._usage(plan.echo),
            )
        )


# LangChain reads the signature of `_generate`/`_agenerate` on every call, to
# see whether they take `run_manager`; a signature stored on the function is
# returned at once instead of being rebuilt (about 5 % of an `ainvoke`).
_hook: Any
for _hook in (EchoChatModel._generate, EchoChatModel._agenerate):
    _hook.__signature__ = inspect.signature(_hook)


@dataclass(frozen=True, slots=True)
class EchoReply:
    """One whole reply as plain data: what the model wraps in an ``AIMessage``.

    Attributes:
        echo: The reply text, how it ended (finish reason, stop sequence) and
            its token counts.
        tool_calls: The tool calls, valid ones (``error is None``) and invalid
            ones, in the model's order.
        model_name: The model name reported.
        fixture: The label of the fixture that answered (``file#index``), if
            one did.
    """

    echo: Echo
    tool_calls: list[PlannedCall]
    model_name: str
    fixture: str | None = None


@dataclass(frozen=True)
class _Plan:
    """What one call will do: its reply, its tool calls and its injected fault."""

    echo: Echo
    tool_calls: list[PlannedCall]
    fail_at: int | None
    #: With ``latency_seed``, what fixes the latency draws: the conversation.
    latency_key: str = ""
    #: The fixture whose reply this is, if one matched.
    fixture: Fixture | None = None

    @property
    def prompt(self) -> int:
        """Input tokens: each costs ``prefill_per_token``."""
        return self.echo.input_tokens

    def reply(self, model_name: str) -> EchoReply:
        """The reply this plan makes, reported under ``model_name``."""
        fixture = self.fixture.label if self.fixture is not None else None
        return EchoReply(self.echo, self.tool_calls, model_name, fixture)

    @property
    def chunk_size(self) -> int:
        """Characters of text per chunk: 1, or the fixture's ``chunkSize``."""
        fixture = self.fixture
        return (fixture.chunk_size or 1) if fixture is not None else 1

    @property
    def chunk_count(self) -> int:
        """Chunks before the final one: one per tool call and per text chunk."""
        return len(self.tool_calls) + math.ceil(len(self.echo.text) / self.chunk_size)


@dataclass(frozen=True)
class _StreamCut:
    """Where a fixture cuts its stream: after ``after`` chunks, at ``at`` seconds.

    ``truncateAfterChunks`` cuts right after its chunk; ``disconnectAfterMs``
    at its time, after the chunks due before it (none is cut if every chunk
    is due before it: the stream ended first). Either way the stream raises
    ``EchoFaultError``, as the model's own mid-stream fault does, and never
    sends its final chunk. ``invoke`` is never cut (aimock cuts only streams).
    """

    after: int
    at: float | None
    reason: str
    label: str

    @classmethod
    def of(cls, plan: _Plan, schedule: Schedule) -> _StreamCut | None:
        """The cut of ``plan``'s stream, if its fixture has one that happens."""
        fixture = plan.fixture
        if fixture is None:
            return None
        total = plan.chunk_count
        cuts: list[_StreamCut] = []
        truncate = fixture.truncate_after_chunks
        if truncate is not None and truncate <= total:
            reason = f"truncateAfterChunks {truncate}"
            cuts.append(cls(truncate, None, reason, fixture.label))
        if fixture.disconnect_after_ms is not None:
            at = fixture.disconnect_after_ms / 1000
            sent = next((i for i in range(total) if schedule.offset(i) >= at), total)
            if sent < total:
                reason = f"disconnectAfterMs {fixture.disconnect_after_ms:g}"
                cuts.append(cls(sent, at, reason, fixture.label))
        return min(cuts, key=lambda cut: cut.after, default=None)

    def _error(self) -> EchoFaultError:
        return EchoFaultError(
            f"fixture {self.label} cut the stream after {self.after} chunks "
            f"({self.reason})"
        )

    def error_after_sync(self, sequence: Sequence) -> EchoFaultError:
        """Wait (blocking) until the cut is due; return the error to raise."""
        if self.at is not None:
            clock = sequence.engine.clock
            clock.sleep(sequence.admitted + self.at - clock.time())
        return self._error()

    async def error_after(self, sequence: Sequence) -> EchoFaultError:
        """Wait until the cut is due; return the error to raise."""
        if self.at is not None:
            turn = sequence.engine.wait_until(sequence.admitted + self.at)
            if turn is not None:
                await turn
        return self._error()


def _stop_sequences(stop: Any) -> list[str]:
    """Return ``stop`` as a list: a string is one sequence, as in OpenAI's API."""
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list | tuple) and all(isinstance(s, str) for s in stop):
        return list(stop)
    msg = f"stop must be a string or a list of strings, got {stop!r}"
    raise ValueError(msg)


def _non_negative_int(kwargs: dict[str, Any], key: str, default: Any) -> Any:
    """Return ``kwargs[key]`` checked as an int >= 0, or ``default`` if absent."""
    if key not in kwargs or kwargs[key] is None:
        return default
    value = kwargs[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = f"{key} must be an integer >= 0, got {value!r}"
        raise ValueError(msg)
    return value
