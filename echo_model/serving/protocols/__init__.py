"""The wire protocols, one package each.

OpenAI's Chat Completions (``openai``) and Responses (``responses``),
Anthropic's Messages (``anthropic``), Ollama's API (``ollama``), LangServe's
(``langserve``).

Each holds its routes, wire types, error shape and stream frames, and one
``WireProtocol`` object the app and the shared layers use. Protocols never
import each other; what they share is in ``echo_model.serving.core``.
"""
