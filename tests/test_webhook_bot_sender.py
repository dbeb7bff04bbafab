"""``examples/webhook_bot.py`` with Graph credentials: it really sends the transfer.

The bot runs as a real process against ``tests/graph_standin.py``, another real
process on 127.0.0.1 standing in for the sign-in service and Graph, which
records every request it receives. The tests read what the bot sent (the
token form, the transfer's path, bearer token and exact bytes), what it
answered, what it stored and what it logged, in each of the stand-in's modes:
Graph accepts (202), refuses (403) or refuses the bearer token (401), the
sign-in service refuses the client (401), Graph is silent past the bot's
timeout. The client secret must appear in none of the bot's answers or logs.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from bot_process import APP_ID, BOT, TENANT, RunningBot, Signer, graph_standin, running_bot
from graph_standin import EXPIRED, REFUSAL
from test_webhook_bot import USER, ask_transfer, deliver, established, views

import transfer_fsm as tf

SECRET = f"not-a-real-secret-{uuid.uuid4().hex}"
GRAPH_TIMEOUT = 1.0  # seconds the bot waits for the stand-in


class Sending(NamedTuple):
    """A bot with credentials, the stand-in it talks to, and the stand-in's record."""

    bot: RunningBot
    record: Path
    token: str  # a callback token our signer made

    def requests(self) -> list[dict[str, Any]]:
        """Every request the stand-in has received, in order."""
        text = self.record.read_text(encoding="utf-8") if self.record.exists() else ""
        return [json.loads(line) for line in text.splitlines()]

    def view(self, call_id: str) -> tf.Call:
        """The bot's stored call."""
        status, data = asyncio.run(views(self.bot.url, [call_id]))[call_id]
        assert status == 200
        return tf.Call.from_dict(data)

    def up(self, *call_ids: str) -> list[tf.Call]:
        """Report each call established; their stored views."""
        bodies = [established(call_id) for call_id in call_ids]
        assert asyncio.run(deliver(self.bot.url, bodies, self.token)) == [202] * len(bodies)
        return [self.view(call_id) for call_id in call_ids]


@pytest.fixture(scope="module")
def signer() -> Signer:
    """The key pair that signs this module's callback tokens."""
    return Signer()


@contextmanager
def sending(folder: Path, signer: Signer, mode: str, *standin: str) -> Iterator[Sending]:
    """The stand-in in ``mode`` and a bot with credentials pointed at it; both stopped on exit."""
    secret = folder / "client-secret"
    secret.write_text(SECRET + "\n", encoding="utf-8")
    record, jwks = folder / "graph.jsonl", signer.write_jwks(folder / "jwks.json")
    with graph_standin(record, mode, *standin) as base:
        credentials = ["--tenant-id", TENANT, "--client-secret-file", str(secret)]
        urls = ["--login-url", base, "--graph-url", f"{base}/v1.0"]
        options = [*credentials, *urls, "--graph-timeout", str(GRAPH_TIMEOUT), "--jwks", str(jwks)]
        with running_bot(folder / "calls.db", folder / "bot.log", *options) as bot:
            assert SECRET not in " ".join(map(str, bot.process.args))  # type: ignore[arg-type]
            yield Sending(bot, record, signer.token())
    assert bot.log_lines()[-1]["event"] == "stopped"  # the session closed cleanly
    assert SECRET not in (folder / "bot.log").read_text(encoding="utf-8")


def ask(sending: Sending, *asks: tuple[str, dict[str, Any]]) -> list[tuple[int, Any]]:
    """POST each ``(call_id, body)`` to its /transfer, all at once; the answers, in order."""

    async def all_at_once() -> list[tuple[int, Any]]:
        answers = [ask_transfer(sending.bot.url, call_id, body) for call_id, body in asks]
        return [answer for [answer] in await asyncio.gather(*answers)]

    answers = asyncio.run(all_at_once())
    assert SECRET not in json.dumps(answers)
    return answers


def sent_at(call: tf.Call, before: float, after: float) -> float:
    """The ``at`` the bot recorded on the call's request: its clock, while the POST was asked."""
    assert call.transfer is not None
    assert call.transfer.request is not None
    at = call.transfer.request.at
    assert at is not None
    assert before <= at <= after
    return at


def requested(call: tf.Call, built: tf.TransferRequest, at: float) -> tf.Call:
    """``call`` after the builder's request, sent at ``at``."""
    return tf.reduce(call, built.event._replace(at=at))


def assert_token_request(request: dict[str, Any]) -> None:
    """A client-credentials token request for our app, tenant and secret."""
    assert (request["method"], request["path"]) == ("POST", f"/{TENANT}/oauth2/v2.0/token")
    assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert request["form"] == {
        "client_id": APP_ID,
        "client_secret": SECRET,
        "scope": "https://graph.microsoft.com/.default",
        "grant_type": "client_credentials",
    }


def assert_transfer_post(
    request: dict[str, Any], call_id: str, built: tf.TransferRequest, token: str
) -> None:
    """The builder's exact bytes POSTed to the call's /transfer with ``token``."""
    assert (request["method"], request["path"]) == (
        "POST",
        f"/v1.0/communications/calls/{call_id}/transfer",
    )
    assert request["headers"]["Authorization"] == f"Bearer {token}"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["raw"] == built.json().decode()
    assert json.loads(request["raw"]) == built.body


def endpoints(requests: list[dict[str, Any]]) -> list[str]:
    """What each request the stand-in received asked for: ``token`` or ``transfer``."""
    return [request["path"].split("/")[-1] for request in requests]


def logged(bot: RunningBot, call_id: str) -> list[dict[str, Any]]:
    """The bot's log lines about one call, without their time (and, checked, the journal
    id and key)."""
    lines = [line for line in bot.log_lines() if line.get("call_id") == call_id]
    for line in lines:
        if line["event"] == "milestone":
            assert isinstance(line.pop("id"), str)
            assert line.pop("key").startswith(f"{call_id}:")
    return [{key: value for key, value in line.items() if key != "time"} for line in lines]


def test_accepted_transfers_share_one_token(signer: Signer, tmp_path: Path) -> None:
    blind_call, consult_call, leg = (str(uuid.uuid4()) for _ in range(3))
    blind = tf.blind_transfer(tf.User(USER))
    phone = {"target": {"phone": "+12345678901"}, "replacesCallId": leg, "clientContext": "c-1"}
    consult = tf.consultative_transfer(tf.Phone("+12345678901"), leg, client_context="c-1")
    with sending(tmp_path, signer, "accept") as graph:
        before = graph.up(blind_call, consult_call)
        asked = time.time()
        answers = ask(
            graph, (blind_call, {"target": {"user": {"id": USER}}}), (consult_call, phone)
        )
        answered = time.time()
        assert answers == [
            (202, {"sent": True, "body": blind.body}),
            (202, {"sent": True, "body": consult.body}),
        ]
        token, *posts = graph.requests()  # two requests at once: one token fetched for both
        assert_token_request(token)
        assert token["issued"] == "standin-token-1"
        assert sorted(post["path"] for post in posts) == sorted(
            f"/v1.0/communications/calls/{call_id}/transfer"
            for call_id in (blind_call, consult_call)
        )
        for post in posts:
            call_id = post["path"].split("/")[-2]
            built = blind if call_id == blind_call else consult
            assert_transfer_post(post, call_id, built, "standin-token-1")
        for call, built in zip(before, (blind, consult), strict=True):
            view = graph.view(call.call_id)
            assert view == requested(call, built, sent_at(view, asked, answered))
            assert view.transfer is not None
            assert view.transfer.status is tf.TransferStatus.REQUESTED
            sent = {"event": "transfer-sent", "call_id": call.call_id, "status": 202}
            assert sent in logged(graph.bot, call.call_id)


def test_a_token_is_fetched_again_once_it_expires(signer: Signer, tmp_path: Path) -> None:
    """A token of two seconds is replaced a fifth of a second before it expires."""
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    user = {"target": {"user": {"id": USER}}}
    built = tf.blind_transfer(tf.User(USER))
    with sending(tmp_path, signer, "accept", "--expires-in", "2") as graph:
        graph.up(first, second)
        assert ask(graph, (first, user)) == [(202, {"sent": True, "body": built.body})]
        time.sleep(2.0)
        assert ask(graph, (second, user)) == [(202, {"sent": True, "body": built.body})]
        requests = graph.requests()
    assert endpoints(requests) == ["token", "transfer", "token", "transfer"]
    for request in requests[::2]:
        assert_token_request(request)
    assert_transfer_post(requests[1], first, built, "standin-token-1")
    assert_transfer_post(requests[3], second, built, "standin-token-2")


def test_a_refused_transfer_fails_the_attempt(signer: Signer, tmp_path: Path) -> None:
    call_id = str(uuid.uuid4())
    built = tf.blind_transfer(tf.User(USER))
    user = {"target": {"user": {"id": USER}}}
    graph_error = REFUSAL["error"]
    rejected = tf.TransferRejected(tf.ResultInfo(403, 0, graph_error["message"]))
    with sending(tmp_path, signer, "refuse") as graph:
        [before] = graph.up(call_id)
        asked = time.time()
        assert ask(graph, (call_id, user)) == [
            (502, {"sent": False, "status": 403, "error": graph_error})
        ]
        view = graph.view(call_id)
        at = sent_at(view, asked, time.time())
        assert view == tf.reduce(requested(before, built, at), rejected)
        assert view.transfer is not None
        assert view.transfer.status is tf.TransferStatus.FAILED
        assert view.transfer.result == tf.ResultInfo(403, 0, graph_error["message"])
        assert tf.can_transfer(view)  # nothing left open: the bot may try again
        failed = {
            "event": "milestone",
            "call_id": call_id,
            "milestone": "transferFailed",
            "cause": "graph",
        }
        assert logged(graph.bot, call_id)[-2:] == [
            failed,
            {"event": "transfer-refused", "call_id": call_id, "status": 403, "error": graph_error},
        ]
        token, post = graph.requests()
    assert_token_request(token)
    assert_transfer_post(post, call_id, built, "standin-token-1")


def test_a_refused_bearer_token_is_not_used_again(signer: Signer, tmp_path: Path) -> None:
    """Graph's 401 fails the attempt like any refusal, and the next send fetches a new token."""
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    built = tf.blind_transfer(tf.User(USER))
    refused = (502, {"sent": False, "status": 401, "error": EXPIRED["error"]})
    with sending(tmp_path, signer, "unauthorized") as graph:
        graph.up(first, second)
        for call_id in (first, second):
            assert ask(graph, (call_id, {"target": {"user": {"id": USER}}})) == [refused]
            view = graph.view(call_id)
            assert view.transfer is not None
            assert view.transfer.result == tf.ResultInfo(401, 0, "The access token has expired.")
        requests = graph.requests()
    assert endpoints(requests) == ["token", "transfer", "token", "transfer"]
    assert_transfer_post(requests[1], first, built, "standin-token-1")
    assert_transfer_post(requests[3], second, built, "standin-token-2")


def test_no_token_records_nothing_and_sends_nothing(signer: Signer, tmp_path: Path) -> None:
    """The token comes before the attempt: a refused one leaves the call as it was."""
    call_id = str(uuid.uuid4())
    with sending(tmp_path, signer, "token-failure") as graph:
        [before] = graph.up(call_id)
        answers = ask(graph, (call_id, {"target": {"user": {"id": USER}}}))
        reason = "the sign-in service refused: invalid_client"
        assert answers == [(502, {"sent": False, "error": f"no Graph token: {reason}"})]
        assert graph.view(call_id) == before
        assert before.transfer is None
        assert tf.can_transfer(before)
        assert logged(graph.bot, call_id)[-1] == {
            "event": "token-failed",
            "call_id": call_id,
            "reason": reason,
            "status": 401,
        }
        [token] = graph.requests()  # no transfer POST
    assert_token_request(token)


def test_no_answer_leaves_the_attempt_in_flight(signer: Signer, tmp_path: Path) -> None:
    """Graph may have started it: 504, no rejection; the bot's timeout and a GET recover."""
    call_id = str(uuid.uuid4())
    built = tf.blind_transfer(tf.User(USER))
    with sending(tmp_path, signer, "slow") as graph:
        [before] = graph.up(call_id)
        asked = time.monotonic()
        wall = time.time()
        [(status, answer)] = ask(graph, (call_id, {"target": {"user": {"id": USER}}}))
        waited = time.monotonic() - asked
        assert (status, answer["sent"], answer["body"]) == (504, None, built.body)
        assert "may or may not have accepted" in answer["error"]
        assert GRAPH_TIMEOUT <= waited < GRAPH_TIMEOUT + 5
        view = graph.view(call_id)
        at = sent_at(view, wall, time.time())
        assert view == requested(before, built, at)
        assert view.transfer is not None
        assert view.transfer.status is tf.TransferStatus.REQUESTED
        assert not tf.transfer_overdue(view, now=at + 1, timeout=30)
        attempt = tf.transfer_overdue(view, now=at + 31, timeout=30)
        assert attempt == 1
        overdue = tf.step(view, tf.TransferAbandoned(attempt))
        assert overdue.milestones == (tf.Milestone.TRANSFER_ABANDONED,)
        lines = logged(graph.bot, call_id)
        assert lines[-1]["event"] == "transfer-unknown"
        assert "transferFailed" not in [line.get("milestone") for line in lines]
        token, post = graph.requests()
    assert_token_request(token)
    assert_transfer_post(post, call_id, built, "standin-token-1")


def run_bot(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """The bot started with bad credential options (it must exit at once)."""
    command = [sys.executable, str(BOT), "--db", str(tmp_path / "x.db"), "--app-id", APP_ID]
    return subprocess.run(
        [*command, "--port", "0", *options], capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--tenant-id", TENANT], "--tenant-id and --client-secret-file go together"),
        (["--client-secret-file", "{secret}"], "--tenant-id and --client-secret-file go together"),
        (["--tenant-id", TENANT, "--client-secret-file", "{empty}"], "holds no secret"),
        (["--tenant-id", TENANT, "--client-secret-file", "{missing}"], "No such file"),
        (["--tenant-id", " ", "--client-secret-file", "{secret}"], "the tenant id is empty"),
    ],
)
def test_half_or_bad_credentials_are_refused(
    tmp_path: Path, options: Sequence[str], says: str
) -> None:
    files = {"secret": tmp_path / "secret", "empty": tmp_path / "empty", "missing": tmp_path / "no"}
    files["secret"].write_text(SECRET, encoding="utf-8")
    files["empty"].write_text(" \n", encoding="utf-8")
    done = run_bot(tmp_path, *(option.format_map(files) for option in options))
    assert done.returncode == 2
    assert says in done.stderr
    assert SECRET not in done.stderr + done.stdout
