"""The webhook bot's credentialed side: an app-only Graph token, cached, and the transfer POST.

``examples/webhook_bot.py`` imports this module; copy both. With a tenant and
a client secret (``--tenant-id``, ``--client-secret-file``) the bot sends the
transfers it records; without them it answers a dry run.

- The token: OAuth2 client credentials, ``POST {login}/{tenant}/oauth2/v2.0/token``
  with the form ``client_id`` (the bot's app id), ``client_secret``, ``scope``
  ``https://graph.microsoft.com/.default`` and ``grant_type``
  ``client_credentials``. It is kept until shortly before its ``expires_in``
  (:func:`refresh_margin`) and fetched again after; one fetch serves
  concurrent requests. A 401 from Graph drops it, so the next request fetches
  a new one.
- The transfer: ``POST {graph}/communications/calls/{id}/transfer`` with
  ``Authorization: Bearer <token>`` and the builder's JSON body. Graph answers
  ``202 Accepted`` with no body (any 2xx is taken as accepted); an error answer
  is :class:`Refused`; no answer (a network failure, a timeout) is
  :class:`Unknown`: Graph may have started the transfer, or not.

What the bot's ``POST /calls/{id}/transfer`` answers, with credentials:

- 202 ``{"sent": true, "body": ...}``: Graph accepted; the attempt is requested
  and its notifications decide the rest.
- 502 ``{"sent": false, "status": ..., "error": ...}``: Graph refused, with
  that HTTP status and its ``error`` object (null when its answer held none).
  The attempt is failed: the bot reduces ``TransferRejected`` with the
  :class:`Refused` ``result`` (``transferFailed`` is logged).
- 504 ``{"sent": null, "error": ..., "body": ...}``: no answer in time. Graph
  may have started the transfer, so the attempt is *not* failed: it stays in
  flight, its ``TransferRequested`` carries ``at`` (the bot's ``time.time()``),
  and ``transfer_overdue``, ``TransferAbandoned`` and a ``GET`` of the call
  recover it (README, "Retries, timeouts and recovery").
- 502 ``{"sent": false, "error": "no Graph token: ..."}``: the token could not
  be had. The token is fetched *before* the attempt is recorded, so then
  nothing is recorded and nothing sent: the call may be transferred as before
  (a token failure is not Graph's answer to a transfer, so no
  ``TransferRejected`` with a made-up ``resultInfo`` is reduced).

The secret is read from a file, never from the command line (where ``ps``
shows it), and is never logged or answered: :class:`Credentials` leaves it out
of its ``repr``. Every request has a timeout (``--graph-timeout``) and runs on
the event loop through one ``aiohttp`` session: nothing blocks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp

import transfer_fsm as tf

LOGIN_URL = "https://login.microsoftonline.com"
"""Microsoft Entra ID's sign-in authority (``--login-url`` points elsewhere, for tests)."""
GRAPH_URL = "https://graph.microsoft.com/v1.0"
"""Graph's v1.0 root (``--graph-url``)."""
SCOPE = "https://graph.microsoft.com/.default"
"""An app-only token for the application permissions granted to the app (``Calls.Initiate.All``)."""
TIMEOUT = 10.0
"""Seconds a token request or a transfer POST may take in all (``--graph-timeout``)."""
MAX_MARGIN = 300.0
"""At most this many seconds before a token expires, a new one is fetched."""
MAX_ERROR_BYTES = 64 * 1024
"""Of an error answer, at most this much is read."""


class TokenError(Exception):
    """No token: the sign-in service refused (``status``) or did not answer (``status`` None)."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status

    def reply(self) -> tuple[int, dict[str, Any]]:
        """502: no token, so nothing was recorded or sent."""
        return 502, {"sent": False, "error": f"no Graph token: {self.reason}"}

    def logged(self) -> dict[str, Any]:
        """The log line's fields."""
        return {"event": "token-failed", "reason": self.reason, "status": self.status}


@dataclass(frozen=True)
class Credentials:
    """An app registration's client credentials; the secret is kept out of ``repr``."""

    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)

    @classmethod
    def read(cls, tenant_id: str, client_id: str, secret_file: Path) -> Credentials:
        """The credentials with the secret read from ``secret_file`` (surrounding blanks dropped).

        Raises ``ValueError`` for an empty tenant or secret, ``OSError`` for an unreadable file.
        """
        secret = secret_file.read_text(encoding="utf-8").strip()
        if not tenant_id.strip():
            raise ValueError("the tenant id is empty")
        if not secret:
            raise ValueError(f"{secret_file} holds no secret")
        return cls(tenant_id.strip(), client_id, secret)


class Accepted(NamedTuple):
    """Graph accepted the transfer (``202``)."""

    status: int

    def reply(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The bot's answer to its caller: 202 ``{"sent": true, "body": ...}``."""
        return 202, {"sent": True, "body": body}

    def logged(self) -> dict[str, Any]:
        """The log line's fields."""
        return {"event": "transfer-sent", "status": self.status}


class Refused(NamedTuple):
    """Graph answered the POST with an error: the transfer never started.

    ``result`` is what the bot reduces as :class:`~transfer_fsm.TransferRejected`:
    ``code`` the HTTP status (Graph's error ``code`` is a word such as
    ``"Forbidden"``, not a number), ``subcode`` 0 (Graph's error body has no
    numeric one), ``message`` its ``error.message`` (else its ``error.code``,
    else none). ``error`` is Graph's ``error`` object as it came (None when the
    answer held none).
    """

    status: int
    result: tf.ResultInfo
    error: dict[str, Any] | None

    def reply(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """502 with Graph's status and error (``body`` was not sent on: the caller has it)."""
        return 502, {"sent": False, "status": self.status, "error": self.error}

    def logged(self) -> dict[str, Any]:
        """The log line's fields."""
        return {"event": "transfer-refused", "status": self.status, "error": self.error}


class Unknown(NamedTuple):
    """No answer from Graph (``reason``): it may or may not have started the transfer."""

    reason: str

    def reply(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """504: the outcome is unknown, the attempt stays in flight."""
        unknown = "no answer from Graph in time: it may or may not have accepted the transfer"
        return 504, {"sent": None, "error": unknown, "body": body}

    def logged(self) -> dict[str, Any]:
        """The log line's fields."""
        return {"event": "transfer-unknown", "reason": self.reason}


Sent = Accepted | Refused | Unknown


def refresh_margin(expires_in: float) -> float:
    """How long before expiry a token of ``expires_in`` seconds is replaced.

    A tenth of its life, at most :data:`MAX_MARGIN` (five minutes of an hour's token).
    """
    return min(MAX_MARGIN, expires_in / 10)


def graph_error(data: object) -> dict[str, Any] | None:
    """The ``error`` object of Graph's error body ``{"error": {"code": ..., "message": ...}}``."""
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        error: dict[str, Any] = data["error"]
        return error
    return None


def rejection(status: int, error: dict[str, Any] | None) -> tf.ResultInfo:
    """The ``resultInfo`` of a refused POST: the HTTP status, subcode 0, Graph's message."""
    message = None
    for key in ("message", "code"):
        text = (error or {}).get(key)
        if isinstance(text, str) and text.strip():
            message = text
            break
    return tf.ResultInfo(status, 0, message)


async def read_json(response: aiohttp.ClientResponse) -> object:
    """The answer's JSON (at most :data:`MAX_ERROR_BYTES` of it read); None when it is not JSON.

    A body that breaks off is None too: the status has already said what happened.
    """
    try:
        return json.loads(await response.content.read(MAX_ERROR_BYTES))
    except (ValueError, RecursionError, aiohttp.ClientError, asyncio.TimeoutError):
        return None


class GraphSender:
    """Sends transfers to Graph with an app-only token it fetches and keeps.

    Its ``aiohttp`` session is opened on first use, inside the running loop;
    :meth:`close` it when the bot stops.
    """

    def __init__(
        self,
        credentials: Credentials,
        login_url: str = LOGIN_URL,
        graph_url: str = GRAPH_URL,
        timeout: float = TIMEOUT,
    ) -> None:
        self.credentials = credentials
        self.token_url = f"{login_url.rstrip('/')}/{credentials.tenant_id}/oauth2/v2.0/token"
        self.graph_url = graph_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._token: tuple[str, float] | None = None  # the token, and when to replace it
        self._lock = asyncio.Lock()

    def session(self) -> aiohttp.ClientSession:
        """The session every request goes through (opened on first use)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def token(self) -> str:
        """A token valid for a while yet: the kept one, or a new one; raises :class:`TokenError`."""
        async with self._lock:  # concurrent requests wait for one fetch
            if self._token is None or time.monotonic() >= self._token[1]:
                self._token = await self._fetch()
            return self._token[0]

    async def _fetch(self) -> tuple[str, float]:
        """A new token from the sign-in service, and the monotonic time to replace it."""
        form = {
            "client_id": self.credentials.client_id,
            "client_secret": self.credentials.client_secret,
            "scope": SCOPE,
            "grant_type": "client_credentials",
        }
        asked = time.monotonic()
        try:
            async with self.session().post(self.token_url, data=form) as response:
                data = await read_json(response)
                status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise TokenError(f"no answer from the sign-in service: {error!r}") from None
        if status != 200 or not isinstance(data, dict):
            # The documented error answer names an ``error`` code; its other
            # fields (a description, trace ids) are not repeated here.
            code = data.get("error") if isinstance(data, dict) else None
            raise TokenError(f"the sign-in service refused: {code or 'no error code'}", status)
        token, expires_in = data.get("access_token"), data.get("expires_in")
        if isinstance(expires_in, str) and expires_in.isdigit():
            expires_in = int(expires_in)  # the v1 endpoint wrote it as a string
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise TokenError("the sign-in service answered no access_token and expires_in", status)
        return token, asked + expires_in - refresh_margin(expires_in)

    async def transfer(self, call_id: str, request: tf.TransferRequest, token: str) -> Sent:
        """POST the body to the call's ``/transfer`` with ``token``; what came of it."""
        url = f"{self.graph_url}/communications/calls/{call_id}/transfer"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            async with self.session().post(
                url, data=request.json(), headers=headers, allow_redirects=False
            ) as response:
                if 200 <= response.status < 300:
                    return Accepted(response.status)
                error = graph_error(await read_json(response))
        except (aiohttp.ClientError, asyncio.TimeoutError) as failure:
            return Unknown(f"no answer from Graph: {failure!r}")
        if response.status == 401:
            self._token = None  # revoked or expired early: the next request fetches a new one
        return Refused(response.status, rejection(response.status, error), error)

    async def close(self, _app: object = None) -> None:
        """Close the session (an ``aiohttp`` ``on_cleanup`` hook too)."""
        if self._session is not None:
            await self._session.close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that give the bot Graph credentials."""
    group = parser.add_argument_group(
        "sending transfers", "with --tenant-id and --client-secret-file the bot sends them"
    )
    group.add_argument("--tenant-id", help="the tenant the app signs in to")
    group.add_argument(
        "--client-secret-file",
        type=Path,
        help="a file holding the app's client secret (never given on the command line)",
    )
    group.add_argument("--login-url", default=LOGIN_URL, help=f"sign-in authority ({LOGIN_URL})")
    group.add_argument("--graph-url", default=GRAPH_URL, help=f"Graph's root ({GRAPH_URL})")
    group.add_argument(
        "--graph-timeout", type=float, default=TIMEOUT, help="seconds per Graph request (10)"
    )


def sender_from(parser: argparse.ArgumentParser, options: argparse.Namespace) -> GraphSender | None:
    """The sender the options ask for: None without credentials; exits on half or bad ones."""
    if options.tenant_id is None and options.client_secret_file is None:
        return None
    if options.tenant_id is None or options.client_secret_file is None:
        parser.error("--tenant-id and --client-secret-file go together")
    if not options.graph_timeout > 0:
        parser.error("--graph-timeout: a positive number of seconds")
    try:
        credentials = Credentials.read(
            options.tenant_id, options.app_id, options.client_secret_file
        )
    except (OSError, ValueError) as error:
        parser.error(f"--client-secret-file: {error}")
    return GraphSender(credentials, options.login_url, options.graph_url, options.graph_timeout)
