"""The model library's own failures, raised on purpose for testing clients.

``EchoFaultError`` is what the fault injection of ``EchoChatModel`` raises
(``fail_after_chunks``, ``error_rate``) and what a fixture's stream cut
(``truncateAfterChunks``, ``disconnectAfterMs``) raises; ``FixtureErrorReply``
is a fixture's scripted error reply, carrying the status, type, code and retry
delay each protocol renders in its own error shape; ``FixtureMissError`` says
no fixture matched a call that required one. They live here, below the
chat model and the fixtures, so that either can raise them without importing
the other (``echo_model.chat_models`` re-exports ``EchoFaultError``).
"""

from __future__ import annotations


class EchoFaultError(RuntimeError):
    """The failure ``fail_after_chunks`` and ``error_rate`` inject on purpose.

    Also raised when a fixture cuts a stream short (its ``truncateAfterChunks``
    or ``disconnectAfterMs``): the same mid-stream failure, so every protocol
    already renders it.

    Attributes:
        status: The HTTP status a server answers with when it renders the
            failure as a whole reply (500 for an injected fault).
    """

    status: int = 500


class FixtureErrorReply(EchoFaultError):
    """A fixture's scripted error (``response.error``), raised by the model.

    A subclass of ``EchoFaultError``: a server that knows only that class still
    answers it (as a 500); one that knows this class renders ``status``,
    ``error_type``, ``code`` and ``retry_after`` in its protocol's shape.

    Args:
        message: The error's message (``error.message``).
        status: The HTTP status (``status``; aimock's default is 500).
        error_type: The error's type (``error.type``), if the fixture gives one.
        code: The error's code (``error.code``), if the fixture gives one.
        retry_after: Seconds a client should wait (``retryAfter``), if given.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 500,
        error_type: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_type = error_type
        self.code = code
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments: pickle (worker processes) needs help.
        return (
            _rebuild_fixture_error,
            (self.message, self.status, self.error_type, self.code, self.retry_after),
        )


class FixtureMissError(EchoFaultError):
    """No fixture matched a call that asked for one (``fixture_strict``).

    Args:
        message: Why nothing matched, naming the fixtures skipped only because
            of their ``sequenceIndex`` or ``turnIndex``, if any.
        skipped: Those fixtures' labels (``file#index``).

    Attributes:
        status: 503, as aimock's strict mode answers.
    """

    status = 503

    def __init__(self, message: str, skipped: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.skipped = skipped

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (str(self), self.skipped))


def _rebuild_fixture_error(
    message: str,
    status: int,
    error_type: str | None,
    code: str | None,
    retry_after: float | None,
) -> FixtureErrorReply:
    return FixtureErrorReply(
        message,
        status=status,
        error_type=error_type,
        code=code,
        retry_after=retry_after,
    )
