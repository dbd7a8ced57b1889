"""API-key authentication, as a FastAPI dependency."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request
from pydantic import SecretStr

#: The challenge browsers answer with their own login prompt, which is how the
#: playground stays usable behind a key.
WWW_AUTHENTICATE = 'Basic realm="echo-model", charset="UTF-8"'

Dependency = Callable[[Request], Awaitable[None]]


def require_api_key(api_key: SecretStr) -> Dependency:
    """Return a dependency admitting requests that present ``api_key``.

    The key may come as ``Authorization: Bearer <key>``, as ``X-API-Key: <key>``,
    or as the password of HTTP Basic auth (any user name), which is what a
    browser sends after its login prompt. Keys are compared in constant time.
    """
    expected = api_key.get_secret_value().encode()

    async def check_api_key(request: Request) -> None:
        presented = _presented_key(request)
        if presented is None or not hmac.compare_digest(presented, expected):
            raise HTTPException(
                status_code=401,
                detail=(
                    "missing or invalid API key: send 'Authorization: Bearer <key>'"
                    " or 'X-API-Key: <key>'"
                ),
                headers={"WWW-Authenticate": WWW_AUTHENTICATE},
            )

    return check_api_key


def _presented_key(request: Request) -> bytes | None:
    if key := request.headers.get("x-api-key"):
        return key.encode()
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials.strip().encode()
    if scheme.lower() == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        return decoded.partition(b":")[2]
    return None
