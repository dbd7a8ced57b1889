"""``with_structured_output`` for the echo model: bind, then parse."""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.output_parsers import (
    JsonOutputKeyToolsParser,
    JsonOutputParser,
    PydanticOutputParser,
    PydanticToolsParser,
)
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import (
    convert_to_json_schema,
    convert_to_openai_tool,
)
from langchain_core.utils.pydantic import is_basemodel_subclass

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

Method = Literal["function_calling", "json_schema", "json_mode"]


def structured_output(
    model: BaseChatModel,
    schema: dict[str, Any] | type,
    *,
    method: Method,
    include_raw: bool,
    strict: bool | None,
) -> Runnable:
    """Bind ``model`` so it answers in ``schema``, and parse its answer.

    The same recipe as LangChain's partner models: tool calling forces a call to
    the schema as a tool; the JSON methods ask for JSON content through
    ``response_format`` (the echo model derives it; see ``echo_model.echo``).
    """
    is_pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
    traced = {"kwargs": {"method": method, "strict": strict}, "schema": schema}
    if method == "function_calling":
        name = convert_to_openai_tool(schema)["function"]["name"]
        bound = model.bind_tools(
            [schema], tool_choice=name, ls_structured_output_format=traced
        )
        parser: Runnable = (
            PydanticToolsParser(tools=[schema], first_tool_only=True)
            if is_pydantic
            else JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
        )
    elif method in ("json_schema", "json_mode"):
        json_schema = convert_to_json_schema(schema)
        response_format = (
            {
                "type": "json_schema",
                "json_schema": {
                    "name": json_schema.get("title", "output"),
                    "schema": json_schema,
                },
            }
            if method == "json_schema"
            else {"type": "json_object", "schema": json_schema}
        )
        bound = model.bind(
            response_format=response_format, ls_structured_output_format=traced
        )
        parser = (
            PydanticOutputParser(pydantic_object=schema)
            if is_pydantic
            else JsonOutputParser()
        )
    else:
        msg = (
            f"method must be function_calling, json_schema or json_mode, not {method!r}"
        )
        raise ValueError(msg)
    if not include_raw:
        return bound | parser
    parse = RunnablePassthrough.assign(
        parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
    )
    no_parse = RunnablePassthrough.assign(parsed=lambda _: None)
    return RunnableMap(raw=bound) | parse.with_fallbacks(
        [no_parse], exception_key="parsing_error"
    )
