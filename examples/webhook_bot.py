#!/usr/bin/env python3
"""A small Microsoft Graph calling bot on aiohttp that keeps its calls with transfer_fsm.

Copy it and make it yours. It needs the ``example`` extra
(``pip install 'transfer-fsm[example]'``: aiohttp and PyJWT with its crypto)::

    python examples/webhook_bot.py --host 127.0.0.1 --port 8080 --db calls.db --app-id APP_ID

- ``POST /callbacks``: Graph's ``commsNotifications``. Every callback must
  carry ``Authorization: Bearer <JWT>`` signed by Graph (RS256, audience the
  bot's app id, a calling issuer, not expired); anything else is answered 401
  and changes nothing. Each notification of ``value`` is parsed on its own and
  applied through :class:`~transfer_fsm.store.SQLiteStore`, on one worker thread
  off the event loop, *before* the answer, so a 202 means it has committed;
  refused notifications are answered 400 (listed by index), the others are
  still applied.
- ``POST /calls/{id}/transfer``: ``{"target": {"user": {"id": ...}}}`` or
  ``{"target": {"phone": "+1..."}}``, optional ``replacesCallId`` and
  ``clientContext``. Refused with 409 and the blockers when the call may not
  be transferred now. Without Graph credentials it records the attempt and
  answers ``{"dryRun": true, "body": ...}``, the exact body it would POST to
  Graph's ``.../transfer``; with them (``--tenant-id``, ``--client-secret-file``)
  it sends it: see :mod:`graph_sender` for what it answers.
- ``GET /calls/{id}``: the stored call (``Call.to_dict()``), 404 if unknown.

Logs are JSON lines (stderr, or ``--log FILE``). Each milestone the store
reports (``transferAccepted``, ``transferCompleted``, ...) is logged at least
once, never lost, as ``{"event": "milestone", "id": ..., "key": ..., "call_id":
..., "milestone": ...}``: the store commits each step's milestones with the
step, into its journal (``SQLiteStore(journal=True)``, a transactional outbox),
and the worker thread drains the journal after each step and once at startup,
before listening: it claims the entries, writes and flushes each entry's line,
then acknowledges them. A ``kill -9`` between the two writes an entry's line
again at the next start, with the same ``id`` and ``key`` (the milestone key):
dedupe on the key. Act on milestones there.
The first line on stdout is ``{"event": "listening", "host": ..., "port":
...}`` (``--port 0`` picks a free port).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TextIO

import graph_sender
from aiohttp import web
from graph_auth import (
    GRAPH_OPENID_CONFIGURATION,
    FileKeys,
    Keys,
    KeysUnavailableError,
    OpenIdKeys,
    UnauthorizedError,
    authenticate,
)

import transfer_fsm as tf
from transfer_fsm.store import SQLiteStore

Handler = Callable[[web.Request], Awaitable[web.Response]]
Sender = graph_sender.GraphSender | None
"""Sends the transfers (None: the bot answers a dry run)."""


class Log:
    """One JSON object per line, flushed at once, so a killed bot loses at most the last."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lock = threading.Lock()  # the loop and the store's thread both write

    def __call__(self, event: str, **fields: Any) -> None:
        line = json.dumps({"time": round(time.time(), 3), "event": event, **fields})
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


def refusal(path: str, expected: str, found: str, **more: Any) -> dict[str, Any]:
    """The JSON of a refused body or notification."""
    return {"path": path, "expected": expected, "found": found, **more}


def parse_value(value: list[Any]) -> tuple[list[tf.Notification], list[dict[str, Any]]]:
    """The events of each notification that parses, and the refusals of the others."""
    events: list[tf.Notification] = []
    refused: list[dict[str, Any]] = []
    for index, notification in enumerate(value):
        try:  # as a body of one: a string or a nested body is no notification
            events.extend(tf.parse_notifications({"value": [notification]}))
        except tf.NotificationError as error:
            path = error.path.replace("$.value[0]", f"$.value[{index}]", 1)
            refused.append(refusal(path, error.expected, error.found, index=index))
    return events, refused


def read_notifications(raw: bytes) -> list[Any]:
    """The ``value`` list of a ``commsNotifications`` body; raises ``NotificationError``."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise tf.NotificationError("$", "a JSON commsNotifications body", str(error)) from None
    if not isinstance(data, dict):
        raise tf.NotificationError("$", "a commsNotifications object", json_kind(data))
    value = data.get("value")
    if not isinstance(value, list):
        found = json_kind(value) if "value" in data else "nothing"
        raise tf.NotificationError("$.value", "a list of commsNotification", found)
    return value


def json_kind(value: object) -> str:
    """What kind of JSON value ``value`` is, as an error names it."""
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return kinds.get(type(value), "a number")


def transfer_request(data: object, at: float | None = None) -> tf.TransferRequest:
    """The checked transfer this endpoint's JSON asks for, sent at ``at``; raises ``ValueError``."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    target = data.get("target")
    if isinstance(target, dict) and isinstance(target.get("user"), dict):
        user = target["user"]
        who: tf.User | tf.Phone = tf.User(user.get("id"), user.get("displayName"))
    elif isinstance(target, dict) and "phone" in target:
        who = tf.Phone(target["phone"])
    else:
        raise ValueError('target: expected {"user": {"id": ...}} or {"phone": "+1..."}')
    context = data.get("clientContext")
    replaces = data.get("replacesCallId")
    if replaces is None:
        return tf.blind_transfer(who, client_context=context, at=at)
    return tf.consultative_transfer(who, replaces, client_context=context, at=at)


def answer(status: int, data: object) -> web.Response:
    """A JSON response."""
    return web.json_response(data, status=status)


CONSUMER = "webhook-bot"
"""The name this bot claims journal entries under (one instance per file)."""


class Calls:
    """The calls, in a :class:`SQLiteStore` run by one worker thread, off the event loop.

    The store journals each step's milestones in the step's transaction; the
    thread drains the journal (:meth:`drain`) as soon as a step has
    committed, before it applies anything else, so no milestone waits on the
    event loop and none is lost if the process dies.
    """

    def __init__(self, path: Path, log: Log) -> None:
        self.store = SQLiteStore(path, journal=True)
        self.log = log
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="calls")

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` on the worker thread; it finishes even if the caller is cancelled."""
        work = asyncio.get_running_loop().run_in_executor(self._worker, function, *args)
        return await asyncio.shield(work)

    def apply(self, call_id: str, event: tf.Event, cause: str) -> tf.Step:
        """Apply one event (atomically, its milestones journaled with it), then drain."""
        step = self.store.apply(call_id, event)
        self.drain(cause)
        return step

    def drain(self, cause: str) -> int:
        """Log every journaled milestone (line written and flushed), then acknowledge them.

        At least once: a crash after a line and before the acknowledgement
        logs that entry again at the next drain (this bot claims as
        :data:`CONSUMER`, and a claim hands a consumer back what it held), with
        the same ``id`` and ``key``. Returns how many were logged.
        """
        logged = 0
        while entries := self.store.claim_journal(CONSUMER, limit=1000):
            for entry in entries:
                self.log(
                    "milestone",
                    id=entry.id,
                    key=entry.key,
                    call_id=entry.call_id,
                    milestone=entry.milestone.value,
                    cause=cause,
                )
            self.store.ack_journal(entries)
            logged += len(entries)
        return logged

    def apply_all(self, events: Sequence[tf.Notification]) -> None:
        """Apply each event to its call, one transaction each."""
        for event in events:
            self.apply(event.call_id, event, "callback")

    def request(self, call_id: str, built: tf.TransferRequest) -> tuple[tf.Blocker, ...]:
        """Record the attempt if the call may be transferred; else why not."""
        blockers = tf.transfer_blockers(self.store.get(call_id) or tf.Call(call_id))
        if blockers:
            return blockers
        step = self.apply(call_id, built.event, "transfer")
        if step.outcome is not tf.Outcome.APPLIED:  # another writer's attempt got there first
            return tf.transfer_blockers(step.call) or (tf.Blocker.TRANSFER_IN_PROGRESS,)
        return ()

    def close(self) -> None:
        """Finish the queued work, then close the store."""
        self._worker.shutdown(wait=True)
        self.store.close()


class Bot:
    """The three endpoints, over the calls, one key source, one log and maybe a Graph sender."""

    def __init__(self, calls: Calls, keys: Keys, app_id: str, log: Log, sender: Sender) -> None:
        self.calls, self.keys, self.app_id, self.log, self.sender = calls, keys, app_id, log, sender

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        app.router.add_post("/callbacks", self.callbacks)
        app.router.add_post("/calls/{call_id}/transfer", self.transfer)
        app.router.add_get("/calls/{call_id}", self.view)
        if self.sender is not None:
            app.on_cleanup.append(self.sender.close)
        return app

    async def callbacks(self, request: web.Request) -> web.Response:
        """``POST /callbacks``: authenticate, then apply every notification that parses."""
        try:
            await authenticate(request, self.keys, self.app_id)
        except UnauthorizedError as error:
            self.log("unauthorized", reason=str(error), remote=request.remote)
            return answer(401, {"error": "unauthorized"})
        except KeysUnavailableError as error:
            self.log("keys-unavailable", reason=str(error))
            return answer(503, {"error": "signing keys unavailable"})
        try:
            value = read_notifications(await request.read())
        except tf.NotificationError as error:
            self.log("refused", path=error.path, expected=error.expected, found=error.found)
            refused = refusal(error.path, error.expected, error.found)
            return answer(400, {"error": "refused", **refused})
        events, rejected = parse_value(value)
        await self.calls.run(self.calls.apply_all, events)
        if rejected:
            self.log("refused", refused=rejected, applied=len(events))
            return answer(400, {"error": "refused", "refused": rejected, "applied": len(events)})
        return answer(202, {"applied": len(events)})

    async def transfer(self, request: web.Request) -> web.Response:
        """``POST /calls/{id}/transfer``: check, record the attempt, send it (or answer a dry run).

        With a sender the token comes first: without one, nothing is recorded or sent.
        """
        call_id = request.match_info["call_id"]
        try:
            built = transfer_request(await request.json(), time.time() if self.sender else None)
            token = None if self.sender is None else await self.sender.token()
        except ValueError as error:  # json.JSONDecodeError is one too
            return answer(400, {"error": str(error)})
        except graph_sender.TokenError as error:
            self.log(call_id=call_id, **error.logged())
            return answer(*error.reply())
        blockers = await self.calls.run(self.calls.request, call_id, built)
        if blockers:
            return answer(409, {"blockers": [blocker.value for blocker in blockers]})
        if self.sender is None or token is None:
            self.log("transfer-dry-run", call_id=call_id, body=built.body)
            return answer(200, {"dryRun": True, "body": built.body})
        sent = await self.sender.transfer(call_id, built, token)
        if isinstance(sent, graph_sender.Refused):  # Graph's word: the attempt never started
            rejected = tf.TransferRejected(sent.result)
            await self.calls.run(self.calls.apply, call_id, rejected, "graph")
        self.log(call_id=call_id, **sent.logged())
        return answer(*sent.reply(built.body))

    async def view(self, request: web.Request) -> web.Response:
        """``GET /calls/{id}``: the stored call."""
        call = await self.calls.run(self.calls.store.get, request.match_info["call_id"])
        if call is None:
            return answer(404, {"error": "unknown call"})
        return answer(200, call.to_dict())


async def serve(options: argparse.Namespace, log: Log) -> None:
    """Open the store, listen, say where on stdout, and run until SIGTERM or SIGINT."""
    keys: Keys = FileKeys(options.jwks) if options.jwks else OpenIdKeys(options.openid)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    calls = Calls(options.db, log)
    bot = Bot(calls, keys, options.app_id, log, options.sender)
    runner = web.AppRunner(bot.app(), access_log=None)
    await runner.setup()
    try:
        await calls.run(calls.drain, "startup")  # what a killed run committed but did not log
        await web.TCPSite(runner, options.host, options.port).start()
        host, port = runner.addresses[0][:2]
        print(json.dumps({"event": "listening", "host": host, "port": port}), flush=True)
        log("listening", host=host, port=port, db=str(options.db))
        await stop.wait()
    finally:
        await runner.cleanup()
        calls.close()
    log("stopped")


def arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port (0: a free one)")
    parser.add_argument("--db", type=Path, required=True, help="the SQLite file of calls")
    parser.add_argument("--app-id", required=True, help="the bot's app id (the token audience)")
    parser.add_argument("--jwks", type=Path, help="a JSON Web Key Set file instead of Graph's")
    parser.add_argument(
        "--openid",
        default=GRAPH_OPENID_CONFIGURATION,
        help="the OpenID configuration whose jwks_uri signs callbacks (default: Graph's)",
    )
    parser.add_argument("--log", type=Path, help="append the JSON log lines here (default stderr)")
    graph_sender.add_arguments(parser)
    options = parser.parse_args(argv)
    options.sender = graph_sender.sender_from(parser, options)
    return options


def main(argv: Sequence[str] | None = None) -> None:
    """Run the bot."""
    options = arguments(argv)
    stream = options.log.open("a", encoding="utf-8") if options.log else sys.stderr
    try:
        asyncio.run(serve(options, Log(stream)))
    finally:
        if stream is not sys.stderr:
            stream.close()


if __name__ == "__main__":
    main()
