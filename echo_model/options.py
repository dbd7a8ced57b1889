"""The per-request options: one list, from which every place that names them derives.

A request may set these options on any protocol: LangServe's
``config.configurable``, the ``echo`` object of the OpenAI and Anthropic
bodies, ``@pytest.mark.echo(...)`` in the pytest plugin. Each option is a
field of ``EchoChatModel`` (its type and bounds are the field's), an argument
of a model call (``n``, ``stop``), or the server's own (``fault``).

The serving layer derives from this list the option checks and their server
limits, LangServe's configurable fields, the OpenAPI descriptions of the
``echo`` object and the docs' option table; the pytest plugin derives the
marker's accepted names. This module imports nothing beyond the standard
library, so the plugin can read it without loading LangChain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: Who acts on an option: the model (a field set on a copy), a model call
#: (an argument), or the server (no model reads it).
Target = Literal["model", "call", "server"]


@dataclass(frozen=True)
class RequestOption:
    """One per-request option.

    Attributes:
        name: Its name, the same on every protocol (and the model field's).
        description: One line for API documents, forms and the docs.
        target: Who acts on it (see ``Target``).
        limit: The server limit (a field of the serving layer's ``Limits``)
            that caps its value, if one does.
        nullable: Whether ``null`` is a value a request may send; ``None``:
            when the model field's default is ``None``.
    """

    name: str
    description: str
    target: Target = "model"
    limit: str | None = None
    nullable: bool | None = None


REQUEST_OPTIONS: tuple[RequestOption, ...] = (
    RequestOption("n", "Maximum number of characters echoed back.", "call", "max_n"),
    RequestOption(
        "stop",
        "Stop sequences: the reply ends at the first one it contains.",
        "call",
        # An empty list says "none"; LangServe's playground cannot show a null.
        nullable=False,
    ),
    RequestOption(
        "first_token_delay",
        "Simulated seconds before the first chunk.",
        limit="max_delay",
    ),
    RequestOption(
        "token_delay",
        "Simulated seconds between chunks (watch the stream).",
        limit="max_delay",
    ),
    RequestOption(
        "ttft_spread",
        "Spread (std dev, seconds) of the time to first token around"
        " first_token_delay; draws are cut to first_token_delay +/- 3 spreads,"
        " at most first_token_delay.",
    ),
    RequestOption(
        "itl_spread",
        "Spread (std dev, seconds) of each gap around token_delay, cut likewise.",
    ),
    RequestOption(
        "prefill_per_token",
        "Simulated seconds of prefill per input character, before the first chunk.",
    ),
    RequestOption(
        "latency_seed",
        "Seed for the latency draws: the same input then gets the same timings.",
    ),
    RequestOption(
        "fail_after_chunks",
        "Fault injection: fail the call; streams fail after this many chunks."
        " Leave empty for no failure.",
    ),
    RequestOption(
        "error_rate",
        "Fault injection: the share of calls that fail (0 to 1), after"
        " fail_after_chunks chunks. Leave empty for no failure.",
    ),
    RequestOption(
        "seed",
        "Seed for error_rate: the same input then fails, or not, every time.",
    ),
    RequestOption(
        "fault",
        "Injected fault for this request, in the X-Echo-Fault header's grammar"
        " (e.g. 'status=429; retry_after=0', 'error; after=3', 'disconnect;"
        " after=3', 'stall; after=3; seconds=30', 'context_length', 'none')."
        " The header, if sent, wins; this replaces the server's --fault. Leave"
        " empty for none.",
        "server",
    ),
)

#: The options by name, in the list's order.
OPTIONS_BY_NAME: dict[str, RequestOption] = {o.name: o for o in REQUEST_OPTIONS}
#: Every option's name.
OPTION_NAMES: frozenset[str] = frozenset(OPTIONS_BY_NAME)


__all__ = ["OPTIONS_BY_NAME", "OPTION_NAMES", "REQUEST_OPTIONS", "RequestOption"]
