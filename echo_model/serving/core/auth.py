"""API-key authentication: one dependency over three ``fastapi.security`` schemes.

The key may come as ``Authorization: Bearer <key>`` (what the openai SDK and
LangChain's clients send), as ``X-API-Key: <key>`` (the anthropic SDK's), or as
the password of HTTP Basic auth, any user name (what a browser sends after its
login prompt, which keeps the playgrounds usable behind a key). Declared
through ``fastapi.security``, the three schemes appear in the OpenAPI
document, so ``/docs`` has a working Authorize button.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import (
    APIKeyHeader,
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)
from pydantic import SecretStr
from starlette.requests import HTTPConnection

#: The challenge browsers answer with their own login prompt, which is how the
#: playground stays usable behind a key.
WWW_AUTHENTICATE = 'Basic realm="echo-model", charset="UTF-8"'
MISSING_KEY = (
    "missing or invalid API key: send 'Authorization: Bearer <key>' or"
    " 'X-API-Key: <key>'"
)


class _Basic(HTTPBasic):
    """HTTP Basic that reads a malformed header as no credentials.

    FastAPI's raises its own 401 for one; answering it as a missing key keeps
    one message and one challenge for every way the key can be wrong.
    """

    async def __call__(  # type: ignore[override]
        self, request: HTTPConnection
    ) -> HTTPBasicCredentials | None:
        try:
            return await super().__call__(request)
        except HTTPException:
            return None


BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="The server's API key as a bearer token (OpenAI's clients).",
)
API_KEY_HEADER = APIKeyHeader(
    name="x-api-key",
    auto_error=False,
    scheme_name="x-api-key",
    description="The server's API key in X-API-Key (Anthropic's clients).",
)
BASIC = _Basic(
    auto_error=False,
    scheme_name="basic",
    description="Any user name, the server's API key as the password (browsers).",
)


class ApiKeyGuard:
    """The dependency admitting requests that present the server's API key.

    A callable FastAPI solves like a function (its parameters are the three
    schemes), so the schemes appear in the OpenAPI document; ``admits`` is the
    same test on the raw headers, for the fast path (``core.fast_path``).

    Args:
        api_key: The key to ask for. It is compared in constant time
            (``hmac.compare_digest``), so the time a refusal takes says
            nothing of how much of a guess was right.
    """

    def __init__(self, api_key: SecretStr) -> None:
        self._expected = api_key.get_secret_value().encode()

    async def __call__(
        self,
        header: Annotated[str | None, Depends(API_KEY_HEADER)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
        basic: Annotated[HTTPBasicCredentials | None, Depends(BASIC)],
    ) -> None:
        """Refuse the request with a 401 unless it presents the key."""
        presented = _presented(header, bearer, basic)
        if presented is None or not hmac.compare_digest(presented, self._expected):
            raise HTTPException(
                status_code=401,
                detail=MISSING_KEY,
                headers={"WWW-Authenticate": WWW_AUTHENTICATE},
            )

    def admits(self, headers: Mapping[str, str]) -> bool:
        """Whether the dependency surely admits a request with ``headers``.

        Only the plain forms are read, exactly as the schemes read them: an
        ``X-API-Key`` header, else ``Authorization: Bearer <key>``. ``False``
        means "not surely": the request then goes through the dependency,
        which admits Basic auth and refuses in its own words.
        """
        header = headers.get("x-api-key")
        if header:
            return hmac.compare_digest(header.encode(), self._expected)
        scheme, _, credentials = (headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not credentials:
            return False
        return hmac.compare_digest(credentials.strip().encode(), self._expected)


def require_api_key(api_key: SecretStr) -> ApiKeyGuard:
    """Return the dependency admitting requests that present ``api_key``."""
    return ApiKeyGuard(api_key)


def _presented(
    header: str | None,
    bearer: HTTPAuthorizationCredentials | None,
    basic: HTTPBasicCredentials | None,
) -> bytes | None:
    """The key a request presents: ``X-API-Key`` first, then bearer, then Basic."""
    if header:
        return header.encode()
    if bearer is not None:
        return bearer.credentials.strip().encode()
    if basic is not None:
        return basic.password.encode()
    return None
