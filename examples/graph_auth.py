"""How the example bot authenticates Graph's calling callbacks (graph-domain.md §9).

Every calling callback carries ``Authorization: Bearer <JWT>``: RS256-signed by
a key of Graph's published set (found by the token's ``kid``), audience the
bot's app id, a calling issuer, not expired. :func:`authenticate` checks all of
it with PyJWT and raises :class:`UnauthorizedError` (answer 401) or
:class:`KeysUnavailableError` (answer 503, so Graph delivers again).
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Protocol

import jwt
from aiohttp import web

GRAPH_OPENID_CONFIGURATION = "https://api.aps.skype.com/v1/.well-known/OpenIdConfiguration"
"""Where Graph publishes the keys that sign its calling callbacks (its ``jwks_uri``)."""
ISSUERS = ("https://api.botframework.com", "https://graph.microsoft.com")
"""Calling callbacks are issued by ``https://api.botframework.com`` (Graph's calling
notifications docs); Microsoft's comms-samples validator (Samples/Common/Sample.Common/
Authentication/AuthenticationProvider.cs) also accepts ``https://graph.microsoft.com``."""
KEYS_REFRESH = 2 * 3600.0
"""Seconds before the OpenID configuration and its key set are fetched again (as the sample)."""
LEEWAY = 30.0
"""Seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat``."""
FETCH_TIMEOUT = 10.0


class UnauthorizedError(Exception):
    """The callback's token is missing or does not verify: answer 401."""


class KeysUnavailableError(Exception):
    """Graph's keys could not be fetched: answer 503, so Graph delivers again."""


class Keys(Protocol):
    """Signing keys by ``kid`` (blocking: call it off the event loop)."""

    def signing_key(self, kid: str) -> Any:
        """The public key for ``kid``; raises :class:`UnauthorizedError` for an unknown one."""
        ...


class FileKeys:
    """A JSON Web Key Set read once from a file (``--jwks``)."""

    def __init__(self, path: Path) -> None:
        self.keys = jwt.PyJWKSet.from_json(path.read_text(encoding="utf-8"))

    def signing_key(self, kid: str) -> Any:
        """The key whose ``kid`` is ``kid``."""
        try:
            return self.keys[kid].key
        except KeyError:
            raise UnauthorizedError(f"unknown key id {kid!r}") from None


class OpenIdKeys:
    """Graph's published keys: the OpenID configuration's ``jwks_uri``, cached.

    ``PyJWKClient`` caches the key set and fetches it again for a ``kid`` it
    does not know; the configuration itself is read again every
    :data:`KEYS_REFRESH` seconds.
    """

    def __init__(self, configuration_url: str) -> None:
        self.configuration_url = configuration_url
        self._client: jwt.PyJWKClient | None = None
        self._fetched = -math.inf
        self._lock = threading.Lock()

    def _jwks(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._client is None or time.monotonic() - self._fetched > KEYS_REFRESH:
                try:
                    with urllib.request.urlopen(
                        self.configuration_url, timeout=FETCH_TIMEOUT
                    ) as answer:
                        uri = json.load(answer)["jwks_uri"]
                    client = jwt.PyJWKClient(uri, lifespan=KEYS_REFRESH, timeout=FETCH_TIMEOUT)
                except (OSError, ValueError, KeyError, TypeError, jwt.PyJWKClientError) as error:
                    raise KeysUnavailableError(f"OpenID configuration: {error}") from error
                self._client, self._fetched = client, time.monotonic()
            return self._client

    def signing_key(self, kid: str) -> Any:
        """The key whose ``kid`` is ``kid``, from Graph's key set."""
        client = self._jwks()
        try:
            return client.get_signing_key(kid).key
        except jwt.PyJWKClientConnectionError as error:
            raise KeysUnavailableError(str(error)) from error
        except jwt.PyJWKClientError as error:
            raise UnauthorizedError(str(error)) from error


async def authenticate(request: web.Request, keys: Keys, app_id: str) -> dict[str, Any]:
    """The verified claims of the callback's bearer token; raises :class:`UnauthorizedError`."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("no bearer token")
    try:
        kid = jwt.get_unverified_header(token.strip()).get("kid")
    except jwt.PyJWTError as error:
        raise UnauthorizedError(f"malformed token: {error}") from None
    if not isinstance(kid, str):
        raise UnauthorizedError("the token names no key (kid)")
    key = await asyncio.to_thread(keys.signing_key, kid)  # may fetch: off the event loop
    try:
        claims: dict[str, Any] = jwt.decode(
            token.strip(),
            key,
            algorithms=["RS256"],  # never "none", never a symmetric algorithm
            audience=app_id,
            issuer=list(ISSUERS),
            leeway=LEEWAY,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.PyJWTError as error:
        raise UnauthorizedError(f"invalid token: {error}") from None
    return claims
