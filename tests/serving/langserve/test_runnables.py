"""The runnables the server exposes, called directly."""

from __future__ import annotations

import pytest
from langchain_core.load import dumpd
from langchain_core.runnables import ConfigurableField
from langchain_core.runnables.configurable import RunnableConfigurableFields

from echo_model import EchoChatModel
from echo_model.serving.protocols.langserve.runnables import (
    CONFIGURABLE_FIELDS,
    SERVER_OPTIONS,
    ConfigurableOptions,
    chat_chain,
    configurable_model,
)


def _plain_configurable(model: EchoChatModel) -> RunnableConfigurableFields:
    """What LangChain's own ``configurable_fields`` builds for the same fields."""
    built = configurable_model(n=model.n)
    return model.configurable_fields(
        **{
            name: ConfigurableField(
                id=spec.id,
                name=spec.name,
                description=spec.description,
                annotation=spec.annotation,
            )
            for name, spec in built.fields.items()
        }
    )


def test_configurable_model_takes_every_option_per_call() -> None:
    model = configurable_model(n=10)
    assert isinstance(model, ConfigurableOptions)
    assert set(model.fields) == set(CONFIGURABLE_FIELDS)
    assert model.invoke("hello world").content == "hello worl"
    reply = model.invoke("hello world", {"configurable": {"n": 20, "stop": ["o"]}})
    assert reply.content == "hello"
    assert reply.response_metadata["stop_sequence"] == "o"


def test_schemas_are_those_of_langchains_configurable_fields() -> None:
    ours = configurable_model(n=7)
    plain = _plain_configurable(ours.default)
    config = {"configurable": {"n": 2}}
    for method in ("config_schema", "get_input_schema", "get_output_schema"):
        mine = getattr(ours.with_config(config), method)().model_json_schema()
        theirs = getattr(plain.with_config(config), method)().model_json_schema()
        # Titles name the class: ConfigurableOptionsConfig, not Runnable...Config.
        mine.pop("title")
        theirs.pop("title")
        if method == "config_schema":  # plus the server's options (fault)
            properties = mine["$defs"]["Configurable"]["properties"]
            assert all(properties.pop(name) for name in SERVER_OPTIONS)
        assert mine == theirs, method


def test_with_config_binds_the_config_as_the_base_class_does() -> None:
    model = configurable_model(n=10)
    bound = model.with_config(configurable={"n": 3}, tags=["t"])
    assert type(bound) is ConfigurableOptions
    assert bound.config is not None
    assert bound.config["configurable"] == {"n": 3}
    assert bound.config["tags"] == ["t"]
    assert bound.invoke("hello").content == "hel"
    # A later with_config replaces the bound config, as LangChain's does.
    assert bound.with_config(configurable={"n": 4}).invoke("hello").content == "hell"
    assert model.config is None  # the original is untouched
    assert model.invoke("hello").content == "hello"


def test_streams_and_batches_with_per_call_options() -> None:
    model = configurable_model(n=10)
    config = {"configurable": {"n": 3}}
    assert [c.content for c in model.stream("hello", config)] == ["h", "e", "l", ""]
    replies = model.batch(["hello", "goodbye"], [config, {"configurable": {"n": 1}}])
    assert [r.content for r in replies] == ["hel", "g"]


async def test_async_events_come_from_the_configured_model() -> None:
    model = configurable_model(n=10)
    events = [
        event
        async for event in model.astream_events(
            "hello", {"configurable": {"n": 2}}, version="v2"
        )
    ]
    tokens = [
        e["data"]["chunk"].content
        for e in events
        if e["event"] == "on_chat_model_stream"
    ]
    assert tokens == ["h", "e", ""]


def test_serializes_as_langchains_configurable_fields() -> None:
    dumped = dumpd(configurable_model(n=10))
    assert dumped["id"] == RunnableConfigurableFields.lc_id()
    assert dumped["id"][-1] == "RunnableConfigurableFields"


def test_input_schema_is_derived_once_per_class_and_name() -> None:
    model = EchoChatModel()
    schema = model.get_input_schema()
    assert EchoChatModel(n=3).get_input_schema() is schema
    assert schema.model_json_schema()["title"] == "EchoChatModelInput"
    parrot = EchoChatModel(name="parrot")
    named = parrot.get_input_schema()
    assert named is not schema
    assert named.model_json_schema()["title"] == parrot.get_name("Input")
    # The same as LangChain derives it for any chat model.
    plain = super(EchoChatModel, model).get_input_schema()
    assert plain.model_json_schema() == schema.model_json_schema()


@pytest.mark.parametrize("n", [0, 4])
def test_chat_chain_answers_with_text(n: int) -> None:
    chain = chat_chain(configurable_model(n=10))
    reply = chain.invoke({"messages": [("human", "hello")]}, {"configurable": {"n": n}})
    assert reply == "hello"[:n]


def test_configurable_copies_still_stream() -> None:
    model = configurable_model(n=10)
    chunks = list(model.stream("abc", config={"configurable": {"n": 2}}))
    assert [c.content for c in chunks] == ["a", "b", ""]


def test_requests_setting_the_same_values_share_one_configured_model() -> None:
    # LangChain serializes a model on every run, cached per instance: building
    # a new model per request paid that each time.
    model = configurable_model(n=10)
    config = {"configurable": {"n": 2, "stop": ["x"]}}
    first, _ = model.with_config(config)._prepare(config)
    again, _ = model._prepare({"configurable": {"stop": ["x"], "n": 2}})
    other, _ = model._prepare({"configurable": {"n": 3}})
    assert first is again
    assert other is not first
    assert (first.n, first.stop, other.n) == (2, ["x"], 3)
    assert model._prepare({})[0] is model.default
    assert model.invoke("abc", config=config).content == "ab"


def test_configured_models_are_kept_per_served_model() -> None:
    one, two = configurable_model(n=10), configurable_model(n=20, token_delay=0.0)
    config = {"configurable": {"stop": ["q"]}}
    assert one._prepare(config)[0].n == 10
    assert two._prepare(config)[0].n == 20
