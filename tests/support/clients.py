"""What the client e2e tests share: the server's API key, a structured-output type."""

from __future__ import annotations

from pydantic import BaseModel

#: The key the keyed test server (``tests/e2e/conftest.py``'s ``server``) wants.
API_KEY = "sk-echo-test"


class Joke(BaseModel):
    """A joke and its rating."""

    setup: str
    rating: int
