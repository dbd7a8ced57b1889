"""The peer: an echo model built the way LangChain's custom-chat-model guide builds it.

It implements only the sync hooks ``_generate`` and ``_stream`` (so async runs
through a thread pool, once per call and once per streamed chunk), counts usage
per chunk and reports a fixed latency in its metadata, as the guide's model does.
Used by the benchmarks as the baseline; not part of the package.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field


class GuideEchoModel(BaseChatModel):
    """Echoes the first ``parrot_buffer_length`` characters, sync hooks only."""

    model_name: str = Field(default="guide", alias="model")
    parrot_buffer_length: int = 3

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = messages[-1].content[: self.parrot_buffer_length]
        n_in = sum(len(m.content) for m in messages)
        message = AIMessage(
            content=text,
            response_metadata={"time_in_seconds": 3, "model_name": self.model_name},
            usage_metadata={
                "input_tokens": n_in,
                "output_tokens": len(text),
                "total_tokens": n_in + len(text),
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        text = str(messages[-1].content[: self.parrot_buffer_length])
        n_in = sum(len(m.content) for m in messages)
        for char in text:
            usage = {"input_tokens": n_in, "output_tokens": 1, "total_tokens": n_in + 1}
            n_in = 0
            chunk = ChatGenerationChunk(
                message=AIMessageChunk(content=char, usage_metadata=usage)
            )
            if run_manager:
                run_manager.on_llm_new_token(char, chunk=chunk)
            yield chunk
        chunk = ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                response_metadata={"time_in_sec": 3, "model_name": self.model_name},
            )
        )
        if run_manager:
            run_manager.on_llm_new_token("", chunk=chunk)
        yield chunk

    @property
    def _llm_type(self) -> str:
        return "echoing-chat-model-advanced"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}
