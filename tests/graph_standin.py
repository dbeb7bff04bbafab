"""A stand-in for Microsoft's sign-in service and Graph's transfer endpoint, as its own process.

    python tests/graph_standin.py --mode MODE --record FILE [--expires-in SECONDS]

It binds 127.0.0.1 on a free port, prints ``{"event": "listening", "port": N}``
as its first stdout line, and appends every request it receives to ``FILE``
as a JSON line, before it answers: ``method``, ``path``, ``headers``, the
``raw`` body as text, ``form`` (the decoded form, for the token endpoint) and
``issued`` (the token it answers). Routes:

- ``POST /{tenant}/oauth2/v2.0/token``: a client-credentials token,
  ``standin-token-1``, ``-2``, ... with ``expires_in`` ``--expires-in`` (3599).
- ``POST /v1.0/communications/calls/{id}/transfer``: by mode.

Modes: ``accept`` (the transfer is answered ``202`` with no body), ``refuse``
(``403`` with Graph's error body, :data:`REFUSAL`), ``unauthorized`` (``401``:
the bearer token is refused, :data:`EXPIRED`), ``token-failure`` (the token
endpoint answers ``401 invalid_client``), ``slow`` (the transfer is answered
only after :data:`SLOW` seconds, longer than any bot under test waits).
SIGTERM stops it at once (in-flight answers are dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

HOST = "127.0.0.1"
SLOW = 60.0
REFUSAL: dict[str, Any] = {
    "error": {
        "code": "Forbidden",
        "message": "The application may not transfer this call.",
        "innerError": {"request-id": "1d2c3b4a-0000-4000-8000-000000000001"},
    }
}
"""What a refused transfer is answered with (Graph's shape: ``error.code``, ``error.message``)."""
EXPIRED: dict[str, Any] = {
    "error": {"code": "InvalidAuthenticationToken", "message": "The access token has expired."}
}
TOKEN_REFUSAL = {
    "error": "invalid_client",
    "error_description": "The client secret is not valid for this application.",
}


class StandIn:
    """The routes, one mode, the record file and the tokens issued so far."""

    def __init__(self, mode: str, record: Path, expires_in: int) -> None:
        self.mode, self.record, self.expires_in = mode, record, expires_in
        self.issued = 0

    def write(self, request: web.Request, raw: bytes, **more: Any) -> None:
        """Append one request to the record (flushed before the answer)."""
        line = {"method": request.method, "path": request.path, "headers": dict(request.headers)}
        line.update(raw=raw.decode("utf-8", "replace"), **more)
        with self.record.open("a", encoding="utf-8") as record:
            record.write(json.dumps(line) + "\n")

    async def token(self, request: web.Request) -> web.Response:
        """The token endpoint."""
        raw = await request.read()
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        if self.mode == "token-failure":
            self.write(request, raw, form=form, issued=None)
            return web.json_response(TOKEN_REFUSAL, status=401)
        self.issued += 1
        token = f"standin-token-{self.issued}"
        self.write(request, raw, form=form, issued=token)
        answer = {"token_type": "Bearer", "expires_in": self.expires_in, "access_token": token}
        return web.json_response(answer)

    async def transfer(self, request: web.Request) -> web.Response:
        """The transfer endpoint."""
        self.write(request, await request.read())
        if self.mode == "refuse":
            return web.json_response(REFUSAL, status=403)
        if self.mode == "unauthorized":
            return web.json_response(EXPIRED, status=401)
        if self.mode == "slow":
            await asyncio.sleep(SLOW)
        return web.Response(status=202)

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self.token)
        app.router.add_post("/v1.0/communications/calls/{call_id}/transfer", self.transfer)
        return app


async def serve(options: argparse.Namespace) -> None:
    """Listen on a free port, say which, and run until SIGTERM."""
    stop = asyncio.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(number, stop.set)
    standin = StandIn(options.mode, options.record, options.expires_in)
    runner = web.AppRunner(standin.app(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, HOST, 0, shutdown_timeout=0.1).start()
        print(json.dumps({"event": "listening", "port": runner.addresses[0][1]}), flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    """Run the stand-in."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mode", choices=["accept", "refuse", "unauthorized", "token-failure", "slow"]
    )
    parser.add_argument("--record", type=Path, required=True)
    parser.add_argument("--expires-in", type=int, default=3599)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
