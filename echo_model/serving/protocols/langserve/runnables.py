"""The runnables the server exposes: the configurable model and a chat chain."""

from __future__ import annotations

from operator import itemgetter
from typing import Annotated, Any, cast

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import ConfigurableField, Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config, merge_configs
from langchain_core.runnables.configurable import RunnableConfigurableFields
from langchain_core.runnables.utils import ConfigurableFieldSpec
from pydantic import BaseModel, Field, TypeAdapter, WithJsonSchema

from echo_model.chat_models import EchoChatModel
from echo_model.options import REQUEST_OPTIONS
from echo_model.serving.core.options import option_type
from echo_model.serving.protocols.langserve.request_config import FIXTURE_KEYS

#: Model fields a client may set per request through ``config.configurable``.
CONFIGURABLE_FIELDS: dict[str, str] = {
    o.name: o.description for o in REQUEST_OPTIONS if o.target != "server"
}
#: Per-request options the server acts on, not the model: they travel in
#: ``configurable`` beside the model's fields.
SERVER_OPTIONS: dict[str, str] = {
    o.name: o.description for o in REQUEST_OPTIONS if o.target == "server"
}


def configurable_model(**defaults: Any) -> Runnable:
    """Return an EchoChatModel whose ``CONFIGURABLE_FIELDS`` are set per request.

    LangServe's RemoteRunnable cannot send per-call keyword arguments, so every
    per-request option travels as a ``configurable`` field instead.

    Args:
        **defaults: Field values for the model (e.g. ``n=1000``).

    Example:
        .. code-block:: python

            model = configurable_model(n=10)
            model.invoke("hello", config={"configurable": {"n": 2}})  # 'he'
    """
    return make_configurable(EchoChatModel(**defaults))


def make_configurable(model: EchoChatModel) -> Runnable:
    """Return ``model`` with its ``CONFIGURABLE_FIELDS`` set per request.

    Args:
        model: The model with the server's defaults; it is not changed.
    """
    # An empty list, not None: the playground's form cannot render a nullable field.
    if model.stop is None:
        model = model.model_copy(update={"stop": []})
    return ConfigurableOptions(
        default=model,
        fields={
            name: ConfigurableField(
                id=name,
                name=name,
                description=description,
                annotation=_config_annotation(name, getattr(model, name)),
            )
            for name, description in CONFIGURABLE_FIELDS.items()
        },
    )


#: How many configured models ``ConfigurableOptions`` keeps for reuse.
MAX_CONFIGURED_MODELS = 1024
#: Configured models by (id of the default model, the values set); the default
#: itself is kept beside each, so an id reused after it is gone never matches.
_CONFIGURED_MODELS: dict[tuple[int, tuple[Any, ...]], tuple[Runnable, Runnable]] = {}


class ConfigurableOptions(RunnableConfigurableFields):
    """``RunnableConfigurableFields`` for fields that never change the input type.

    What ``model.configurable_fields(...)`` returns, minus two per-request costs
    that LangServe pays on every call (``with_config(config).input_schema``):
    the base class re-validates a full copy of itself in ``with_config`` and
    builds the configured model just to ask it for its input schema. The
    fields here are the model's options (``n``, ``stop``, delays, faults), so
    the input schema is the default model's, and a shallow copy is a correct
    ``with_config``. Running, streaming and schemas otherwise behave as the
    base class's.
    """

    @classmethod
    def lc_id(cls) -> list[str]:
        """Serialize as the base class, which ``load`` knows."""
        return RunnableConfigurableFields.lc_id()

    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        """The model's fields, then ``SERVER_OPTIONS`` (which no model reads).

        The server options are in the config schema (so LangServe accepts them,
        the playground shows them, and the request check validates them) but
        not in ``fields``: configuring the model ignores them.
        """
        return [
            *super().config_specs,
            *(
                ConfigurableFieldSpec(
                    id=name,
                    name=name,
                    description=description,
                    annotation=_server_option_annotation(name),
                    default=None,
                )
                for name, description in SERVER_OPTIONS.items()
            ),
        ]

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        """Return the default model's input schema; no field here changes it."""
        return cast("type[BaseModel]", self.default.get_input_schema(config))

    def with_config(
        self, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Runnable:
        """Return a copy bound to ``config``, as the base class does, unvalidated.

        The copy differs from this (already validated) object in its config
        alone, which ``ensure_config`` normalizes.
        """
        return self.model_copy(
            update={
                "config": ensure_config(
                    merge_configs(config, cast("RunnableConfig", kwargs))
                )
            }
        )

    def _prepare(
        self, config: RunnableConfig | None = None
    ) -> tuple[Runnable, RunnableConfig]:
        """Return the model configured for ``config``, reusing one per set of values.

        The base class builds a new model for every request that sets a value.
        A new model costs more than its construction: LangChain serializes the
        model (``dumpd``, about 125 us here) on every run it starts, and caches
        that only per instance. Models are immutable and calls share nothing,
        so one model per distinct set of values serves every request that
        sets them (at most ``MAX_CONFIGURED_MODELS`` kept; values that cannot
        be a dictionary key are configured afresh, as by the base class).
        """
        values = ensure_config(config).get("configurable") or {}
        # The request's fixture context and strictness (from its headers).
        scripted = {k: values[k] for k in FIXTURE_KEYS if k in values}
        try:
            key = tuple(
                sorted(
                    (name, tuple(value) if isinstance(value, list) else value)
                    for name, value in values.items()
                    if name in self.fields or name in scripted
                )
            )
            hash(key)
        except TypeError:  # an unhashable value: nothing to reuse
            model, prepared = super()._prepare(config)
            return _scripted(model, scripted), prepared
        cached = _CONFIGURED_MODELS.get((id(self.default), key))
        if cached is not None and cached[0] is self.default:
            return cached[1], ensure_config(config)
        model, prepared = super()._prepare(config)
        model = _scripted(model, scripted)
        if len(_CONFIGURED_MODELS) >= MAX_CONFIGURED_MODELS:
            _CONFIGURED_MODELS.clear()
        _CONFIGURED_MODELS[(id(self.default), key)] = (self.default, model)
        return model, prepared


def _scripted(model: Runnable, scripted: dict[str, Any]) -> Runnable:
    """Return ``model`` with the request's fixture context and strictness set."""
    if scripted and isinstance(model, EchoChatModel):
        return model.model_copy(update=scripted)
    return model


def _server_option_annotation(name: str) -> Any:
    """Return a server option's config annotation: shown as its bare type.

    As for the model's options whose default is ``None`` (see
    ``_config_annotation``): the playground's form cannot show a nullable type.
    """
    option = option_type(name, nullable=False)
    return Annotated[
        (
            option | None,
            WithJsonSchema(TypeAdapter(option).json_schema(mode="serialization")),
            Field(json_schema_extra=_without_default),
        )
    ]


def _config_annotation(field_name: str, default: Any) -> Any:
    """Return the model field's type, with its constraints, for the config schema.

    LangChain builds the config schema from the bare type, so without the
    constraints ``n=-1`` would pass the request check and fail later, inside
    the run. The playground's form cannot show a nullable type (it crashes on
    a ``{"type": "null"}`` branch) nor a ``null`` default (it blocks Start with
    "must be integer"): an optional field whose default is set loses ``None``;
    one whose default is ``None`` keeps it but shows as the bare type with no
    default, an empty box meaning "not set".
    """
    option = option_type(field_name, nullable=default is None)
    if default is not None:
        return option
    shown = TypeAdapter(option_type(field_name, nullable=False))
    return Annotated[
        (
            option,
            WithJsonSchema(shown.json_schema()),
            Field(json_schema_extra=_without_default),
        )
    ]


def _without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class ChatInput(BaseModel):
    """Input of the chat chain: the conversation so far."""

    messages: list[HumanMessage | AIMessage | SystemMessage] = Field(
        ...,
        description="The conversation; the last message is echoed.",
        json_schema_extra={"widget": {"type": "chat", "input": "messages"}},
    )


def chat_chain(model: Runnable) -> Runnable:
    """Wrap ``model`` for LangServe's chat playground.

    The chat playground only works with a runnable that takes a dict holding the
    message list (the page posts a bare chat model ``{"undefined": [...]}``)
    and returns a string (the page rejects an ``AIMessage`` output schema
    because pydantic 2 writes ``const: "ai"`` where it looks for ``enum``).
    This is that runnable and nothing more: pick the messages, call the model,
    keep the text.
    """
    return (itemgetter("messages") | model | StrOutputParser()).with_types(
        input_type=ChatInput, output_type=str
    )
