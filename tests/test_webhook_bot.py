"""``examples/webhook_bot.py`` as a real process, over real HTTP on 127.0.0.1.

Every documented flow runs on its own call, its callbacks shuffled, duplicated
and sent concurrently with valid tokens; forged tokens are refused; the bot is
killed with SIGKILL midway through a delivery and restarted on the same file;
the transfer endpoint checks, records and answers the body it would send.

The flows need the request first: a bot reduces ``TransferRequested`` before it
POSTs ``/transfer``, so each call is reported established and then asked to
transfer through ``POST /calls/{id}/transfer``, before any of its flow's
notifications. Its expected view is therefore the flow's documented final view
with the builder's request in it, which the test also computes independently by
replaying the same events with ``transfer_fsm.reduce``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from bot_process import Signer, running_bot, serving
from flows import FLOWS, VARIANT_FLOWS, Flow, events_of, replay, request_of

import transfer_fsm as tf
from transfer_fsm.store import SQLiteStore

CONSUMER = "webhook-bot"
"""The name ``examples/webhook_bot.py`` claims journal entries under."""

Body = dict[str, Any]
TIMEOUT = aiohttp.ClientTimeout(total=20)
CONCURRENCY = 16
USER = "550fae72-d251-43ec-868c-373732c2704f"
TERMINAL = {
    tf.TransferStatus.COMPLETED: "transferCompleted",
    tf.TransferStatus.FAILED: "transferFailed",
}


def established(call_id: str) -> Body:
    """Graph's notification that the call is up, audio flowing."""
    data = {"state": "established", "mediaState": {"audio": "active"}}
    url = f"/communications/calls/{call_id}"
    return {"value": [{"changeType": "updated", "resourceUrl": url, "resourceData": data}]}


class Plan:
    """One call running one flow: what to send and the view it must end in."""

    def __init__(self, flow: Flow) -> None:
        self.call_id = str(uuid.uuid4())
        about = flow.about(self.call_id)  # the kit's flow, about this call
        self.bodies, final = list(about.bodies), about.final
        self.ask: Body = {"target": {"user": {"id": USER}}}
        leg = None
        asked = request_of(flow)
        if asked.replaces_call_id is not None:
            leg = self.ask["replacesCallId"] = str(uuid.uuid4())
        context = asked.client_context
        if context is not None:
            self.ask["clientContext"] = context
        self.request = (
            tf.blind_transfer(tf.User(USER), client_context=context)
            if leg is None
            else tf.consultative_transfer(tf.User(USER), leg, client_context=context)
        )
        up = replay(tf.Call(self.call_id), *events_of(established(self.call_id)))
        self.final = replay(up, self.request.event, *events_of(*self.bodies))
        documented = attempt(final)._replace(request=self.request.event)
        assert self.final == final._replace(transfer=documented)
        self.terminal = TERMINAL[attempt(self.final).status]


def attempt(call: tf.Call) -> tf.Transfer:
    """The call's transfer attempt, which it must have."""
    assert call.transfer is not None
    return call.transfer


def plans() -> list[Plan]:
    """One call per documented flow (30)."""
    return [Plan(flow) for flow in [*FLOWS, *VARIANT_FLOWS]]


def deliveries(plans: Sequence[Plan], seed: int) -> list[Body]:
    """Every flow body of every call, each sent 1 to 3 times, all shuffled together."""
    rng = random.Random(seed)
    sent = [body for plan in plans for body in plan.bodies for _ in range(rng.randint(1, 3))]
    rng.shuffle(sent)
    return sent


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: object = None,
    token: str | None = None,
) -> tuple[int, Any]:
    """One request; the status and the decoded JSON answer."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    headers["Content-Type"] = "application/json"
    async with session.request(method, url, data=data, headers=headers) as answer:
        return answer.status, await answer.json()


async def deliver(base: str, bodies: Sequence[Body], token: str) -> list[int]:
    """POST each body to /callbacks, CONCURRENCY at a time; the statuses."""
    limit = asyncio.Semaphore(CONCURRENCY)
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:

        async def one(body: Body) -> int:
            async with limit:
                return (await call(session, "POST", f"{base}/callbacks", body, token))[0]

        return list(await asyncio.gather(*(one(body) for body in bodies)))


async def start_calls(base: str, plans: Sequence[Plan], token: str) -> None:
    """Each call established, then asked to transfer (answered with the builder's body)."""
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:

        async def one(plan: Plan) -> None:
            status, _ = await call(
                session, "POST", f"{base}/callbacks", established(plan.call_id), token
            )
            assert status == 202
            url = f"{base}/calls/{plan.call_id}/transfer"
            assert await call(session, "POST", url, plan.ask) == (
                200,
                {"dryRun": True, "body": plan.request.body},
            )

        await asyncio.gather(*(one(plan) for plan in plans))


async def views(base: str, call_ids: Sequence[str]) -> dict[str, tuple[int, Any]]:
    """GET /calls/{id} of each call: status and answer."""
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        answers = await asyncio.gather(
            *(call(session, "GET", f"{base}/calls/{id_}") for id_ in call_ids)
        )
    return dict(zip(call_ids, answers, strict=False))


def assert_final_views(base: str, plans: Sequence[Plan]) -> None:
    """Every call's stored view is its expected final view."""
    got = asyncio.run(views(base, [plan.call_id for plan in plans]))
    for plan in plans:
        status, data = got[plan.call_id]
        assert status == 200
        assert tf.Call.from_dict(data) == plan.final


def journaled(lines: Sequence[dict[str, Any]]) -> tuple[dict[int, dict[str, Any]], int]:
    """The milestone lines by journal ``id`` (a repeated id must repeat its line), and how
    many lines repeated an id already logged."""
    entries: dict[int, dict[str, Any]] = {}
    repeats = 0
    for line in lines:
        if line["event"] == "milestone":
            entry = {key: line[key] for key in ("call_id", "milestone", "key")}
            seq = int(line["id"])
            assert entries.setdefault(seq, entry) == entry, (line, entries[seq])
            repeats += entries[seq] is not entry
    return entries, repeats


def milestones(lines: Sequence[dict[str, Any]], plans: Sequence[Plan]) -> dict[str, Counter[str]]:
    """Each call's logged milestones, counted once per ``seq``."""
    counts: dict[str, Counter[str]] = {plan.call_id: Counter() for plan in plans}
    for entry in journaled(lines)[0].values():
        if entry["call_id"] in counts:
            counts[entry["call_id"]][entry["milestone"]] += 1
    return counts


def assert_each_once(phase: Sequence[dict[str, Any]], plans: Sequence[Plan]) -> int:
    """Over a phase's log lines, each call's milestones at most once, its terminal one once.

    Returns how many milestones were logged.
    """
    counts = milestones(phase, plans)
    for plan in plans:
        logged = counts[plan.call_id]
        assert max(logged.values(), default=0) <= 1, (plan.call_id, logged)
        assert logged[plan.terminal] == 1, (plan.call_id, logged)
        completed = attempt(plan.final).status is tf.TransferStatus.COMPLETED
        assert logged["callTerminated"] == completed
    return sum(sum(logged.values()) for logged in counts.values())


@pytest.fixture(scope="module")
def signer() -> Signer:
    """The key pair that signs this module's tokens."""
    return Signer()


@pytest.fixture(scope="module")
def bot(signer: Signer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One bot for the tests that need no restart, with our key set."""
    folder = tmp_path_factory.mktemp("bot")
    jwks = signer.write_jwks(folder / "jwks.json")
    with running_bot(folder / "calls.db", folder / "bot.log", "--jwks", str(jwks)) as running:
        yield running


def test_thirty_flows_shuffled_duplicated_and_concurrent(bot: Any, signer: Signer) -> None:
    started = time.monotonic()
    calls = plans()
    token = signer.token()
    asyncio.run(start_calls(bot.url, calls, token))
    setup = bot.log_lines()
    assert {id_: dict(counted) for id_, counted in milestones(setup, calls).items()} == {
        plan.call_id: {"audioActive": 1} for plan in calls
    }
    sent = deliveries(calls, seed=11)
    assert set(asyncio.run(deliver(bot.url, sent, token))) == {202}
    assert_final_views(bot.url, calls)
    phase = bot.log_lines()[len(setup) :]
    logged = assert_each_once(phase, calls)
    entries, repeats = journaled(phase)
    assert repeats == 0  # without a kill, each journal entry is logged once
    assert sorted(entries) == list(range(min(entries), min(entries) + logged))
    unique = sum(len(plan.bodies) for plan in calls)
    print(
        f"\nwebhook bot: {len(calls)} calls, {len(sent)} callbacks sent ({unique} bodies,"
        f" {len(sent) - unique} duplicates), {logged} milestones logged once each,"
        f" {time.monotonic() - started:.2f} s"
    )


def forged(signer: Signer) -> dict[str, str | None]:
    """Authorization headers the bot must refuse (None: no header at all)."""
    stranger = Signer(kid=signer.kid)
    hour_ago = int(time.time()) - 3600
    return {
        "no header": None,
        "not a bearer": f"Basic {signer.token()}",
        "empty bearer": "Bearer ",
        "malformed": "Bearer not-a-token",
        "wrong key": f"Bearer {signer.token(key=stranger.key)}",
        "expired": f"Bearer {signer.token(exp=hour_ago, iat=hour_ago - 600, nbf=hour_ago - 600)}",
        "no expiry": f"Bearer {signer.token(exp=None)}",
        "wrong audience": f"Bearer {signer.token(aud='another-app')}",
        "wrong issuer": f"Bearer {signer.token(iss='https://login.microsoftonline.com/x/v2.0')}",
        "alg none": f"Bearer {signer.unsigned()}",
        "HS256 with the public key": f"Bearer {signer.hs256_with_public_key()}",
        "no kid": f"Bearer {signer.token(kid=None)}",
        "unknown kid": f"Bearer {signer.token(kid='another-key')}",
        "tampered claims": f"Bearer {signer.tampered()}",
    }


async def send_forged(base: str, body: Body, headers: dict[str, str | None]) -> dict[str, int]:
    """POST ``body`` to /callbacks under each Authorization header; the statuses by name."""
    statuses = {}
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        for name, value in headers.items():
            sent = {} if value is None else {"Authorization": value}
            async with session.post(f"{base}/callbacks", json=body, headers=sent) as answer:
                statuses[name] = answer.status
    return statuses


def test_forged_tokens_are_refused_and_change_nothing(bot: Any, signer: Signer) -> None:
    known, unknown = str(uuid.uuid4()), str(uuid.uuid4())
    assert asyncio.run(deliver(bot.url, [established(known)], signer.token())) == [202]
    before = asyncio.run(views(bot.url, [known, unknown]))
    body = established(known)
    body["value"][0]["resourceData"] = {"state": "terminated"}
    body["value"].append(established(unknown)["value"][0])
    headers = forged(signer)
    assert asyncio.run(send_forged(bot.url, body, headers)) == dict.fromkeys(headers, 401)
    assert asyncio.run(views(bot.url, [known, unknown])) == before
    assert before[unknown][0] == 404
    assert tf.Call.from_dict(before[known][1]).state is tf.CallState.ESTABLISHED
    # The same body with a valid token is applied: the refusals were the token's.
    assert asyncio.run(deliver(bot.url, [body], signer.token())) == [202]
    after = asyncio.run(views(bot.url, [known, unknown]))
    assert tf.Call.from_dict(after[known][1]).state is tf.CallState.TERMINATED
    assert after[unknown][0] == 200


async def ask_transfer(base: str, call_id: str, *asks: object) -> list[tuple[int, Any]]:
    """POST each of ``asks`` to /calls/{call_id}/transfer at once; the answers in order."""
    url = f"{base}/calls/{call_id}/transfer"
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        return list(await asyncio.gather(*(call(session, "POST", url, ask) for ask in asks)))


def test_transfer_endpoint(bot: Any, signer: Signer) -> None:
    up, other, never = (str(uuid.uuid4()) for _ in range(3))
    assert asyncio.run(deliver(bot.url, [established(up), established(other)], signer.token())) == [
        202,
        202,
    ]
    user = {"target": {"user": {"id": USER}}}
    # A call never heard of is Call(call_id): not established; nothing is recorded for it.
    assert asyncio.run(ask_transfer(bot.url, never, user)) == [
        (409, {"blockers": ["notEstablished"]})
    ]
    assert asyncio.run(views(bot.url, [never]))[never][0] == 404
    # Bad targets are refused with the builder's message, and change nothing.
    (status, answer), *rest = asyncio.run(
        ask_transfer(bot.url, up, {"target": {"phone": "555-0100"}}, {"target": {}}, b"{", [1])
    )
    assert status == 400
    assert "E.164" in answer["error"]
    assert [status for status, _ in rest] == [400, 400, 400]
    before = tf.Call.from_dict(asyncio.run(views(bot.url, [up]))[up][1])
    assert before.transfer is None
    # A blind transfer: the dry-run body is the builder's, and the attempt is requested.
    blind = tf.blind_transfer(tf.User(USER))
    assert asyncio.run(ask_transfer(bot.url, up, user)) == [
        (200, {"dryRun": True, "body": blind.body})
    ]
    view = tf.Call.from_dict(asyncio.run(views(bot.url, [up]))[up][1])
    assert view == tf.reduce(before, blind.event)
    assert view.transfer is not None
    assert view.transfer.status is tf.TransferStatus.REQUESTED
    assert asyncio.run(ask_transfer(bot.url, up, user)) == [
        (409, {"blockers": ["transferInProgress"]})
    ]
    # A consultative transfer to a phone; two requests racing: one wins, one is refused.
    leg = str(uuid.uuid4())
    ask = {"target": {"phone": "+12345678901"}, "replacesCallId": leg, "clientContext": "ctx-1"}
    built = tf.consultative_transfer(tf.Phone("+12345678901"), leg, client_context="ctx-1")
    answers = asyncio.run(ask_transfer(bot.url, other, ask, ask))
    assert sorted(answers, key=lambda answer: answer[0]) == [
        (200, {"dryRun": True, "body": built.body}),
        (409, {"blockers": ["transferInProgress"]}),
    ]
    view = tf.Call.from_dict(asyncio.run(views(bot.url, [other]))[other][1])
    assert view.transfer is not None
    assert view.transfer.request == built.event
    assert view.transfer.status is tf.TransferStatus.REQUESTED


def test_refused_notifications_are_listed_and_the_others_applied(bot: Any, signer: Signer) -> None:
    first, refused, last = (str(uuid.uuid4()) for _ in range(3))
    body = established(first)
    bad = established(refused)["value"][0]
    bad["resourceData"]["state"] = 5
    body["value"] += [bad, established(last)["value"][0], "not a notification"]
    url = f"{bot.url}/callbacks"

    async def post(data: object) -> tuple[int, Any]:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            return await call(session, "POST", url, data, signer.token())

    status, answer = asyncio.run(post(body))
    assert status == 400
    assert answer["applied"] == 2
    assert answer["refused"] == [
        {
            "index": 1,
            "path": "$.value[1].resourceData.state",
            "expected": "a callState string",
            "found": "5",
        },
        {
            "index": 3,
            "path": "$.value[3]",
            "expected": answer["refused"][1]["expected"],
            "found": "the string 'not a notification'",
        },
    ]
    got = asyncio.run(views(bot.url, [first, refused, last]))
    assert got[refused][0] == 404
    for applied in (first, last):
        assert tf.Call.from_dict(got[applied][1]) == replay(
            tf.Call(applied), *events_of(established(applied))
        )
    # Not JSON, or no value list: refused whole, nothing applied.
    status, answer = asyncio.run(post(b'{"value": ['))
    assert (status, answer["path"]) == (400, "$")
    lone = established(str(uuid.uuid4()))["value"][0]
    status, answer = asyncio.run(post(lone))
    assert (status, answer["path"], answer["found"]) == (400, "$.value", "nothing")
    status, answer = asyncio.run(post([lone]))
    assert (status, answer["path"], answer["found"]) == (400, "$", "an array")
    status, answer = asyncio.run(post({"value": {"0": lone}}))
    assert (status, answer["path"], answer["found"]) == (400, "$.value", "an object")
    status, answer = asyncio.run(post({"value": None}))
    assert (status, answer["path"], answer["found"]) == (400, "$.value", "null")
    assert (
        asyncio.run(views(bot.url, [lone["resourceUrl"].rsplit("/", 1)[1]])).popitem()[1][0] == 404
    )


async def deliver_until_killed(bot: Any, bodies: Sequence[Body], token: str, cut: int) -> int:
    """Deliver ``bodies`` concurrently; SIGKILL the bot once ``cut`` are answered 202.

    Returns how many were answered 202 in all (a few in flight may still be
    answered before the kill lands; the rest fail to connect, as Graph's would).
    """
    limit = asyncio.Semaphore(CONCURRENCY)
    answered = 0
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:

        async def one(body: Body) -> None:
            nonlocal answered
            async with limit:
                if bot.process.poll() is not None:
                    return
                try:
                    status, _ = await call(session, "POST", f"{bot.url}/callbacks", body, token)
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    return  # the bot died under this request
                assert status == 202
                answered += 1
                if answered == cut:
                    bot.kill()

        await asyncio.gather(*(one(body) for body in bodies))
    return answered


def finished(db: Path, plans: Sequence[Plan]) -> int:
    """How many calls the file holds in their final view (read while no bot runs)."""
    with SQLiteStore(db) as store:
        return sum(store.get(plan.call_id) == plan.final for plan in plans)


def test_sigkill_midway_then_restart_and_redelivery(signer: Signer, tmp_path: Path) -> None:
    """Killed twice mid-delivery, restarted on the same file, everything redelivered.

    Nothing is lost: every milestone committed (journaled, seq 1, 2, ...
    with no gap) is logged at least once across the three logs, the terminal
    one of every call among them. A line is logged again only with the same
    ``seq`` (a kill after the line, before the entry was forgotten); counted
    once per seq, each milestone appears at most once per call.
    """
    started = time.monotonic()
    jwks, db = signer.write_jwks(tmp_path / "jwks.json"), tmp_path / "calls.db"
    calls, token = plans(), signer.token()
    lines: list[dict[str, Any]] = []
    sent = 0
    done_at_kill = []
    for run, seed in enumerate((31, 37, 41)):
        bodies = deliveries(calls, seed)
        with running_bot(db, tmp_path / f"bot-{run}.log", "--jwks", str(jwks)) as bot:
            if run == 0:
                asyncio.run(start_calls(bot.url, calls, token))
                setup = bot.log_lines()
            if run < 2:
                sent += asyncio.run(deliver_until_killed(bot, bodies, token, len(bodies) // 3))
                assert bot.process.returncode == -9
            else:
                sent += len(bodies)
                assert set(asyncio.run(deliver(bot.url, bodies, token))) == {202}
                assert_final_views(bot.url, calls)
            lines += bot.log_lines()
        if run < 2:
            done_at_kill.append(finished(db, calls))
            assert done_at_kill[-1] < len(calls)  # the kill landed midway
    entries, repeats = journaled(lines)
    with SQLiteStore(db) as store:
        assert store.claim_journal("test") == []  # the last bot stopped cleanly: all acked
    assert sorted(entries) == list(range(1, len(entries) + 1))  # every committed seq logged
    setup_counts = milestones(setup, calls)
    assert {id_: dict(counted) for id_, counted in setup_counts.items()} == {
        plan.call_id: {"audioActive": 1} for plan in calls
    }
    before = set(journaled(setup)[0])  # the setup's seqs, then the flows' (as in the test above)
    after = [
        line for line in lines if line["event"] != "milestone" or int(line["id"]) not in before
    ]
    logged = assert_each_once(after, calls)  # each once per seq; every terminal one
    print(
        f"\nwebhook bot, kill -9: {len(calls)} calls, 2 kills and 3 starts, {sent} callbacks"
        f" answered 202, calls final at each kill {done_at_kill}, {len(entries)} milestones"
        f" journaled, all logged ({logged} after setup, terminal {len(calls)}/{len(calls)}),"
        f" {repeats} line(s) logged again with their seq, {time.monotonic() - started:.2f} s"
    )


def test_a_start_logs_what_a_killed_run_journaled_before_it_listens(
    signer: Signer, tmp_path: Path
) -> None:
    """An entry a run claimed but did not acknowledge (logged or not, then killed) is
    held under the bot's consumer name: the next start takes it back at once and logs
    it, with its id and key, before listening."""
    db, jwks = tmp_path / "calls.db", signer.write_jwks(tmp_path / "jwks.json")
    plan = Plan(FLOWS[0])
    with SQLiteStore(db, journal=True) as store:  # the killed run's commits
        steps = store.apply_body(established(plan.call_id))
        steps.append(store.apply(plan.call_id, plan.request.event))
        steps += [done for body in plan.bodies for done in store.apply_body(body)]
        first = store.claim_journal(CONSUMER, limit=1)
        assert store.ack_journal(first) == 1  # it had logged audioActive, and acknowledged it
        held = store.claim_journal(CONSUMER, limit=1)  # it had logged the next, not acked it
        left = held + store.claim_journal("another", idle=3600.0)  # and another instance...
        assert store.ack_journal(left[1:]) == len(left) - 1  # ... drained the rest
    assert [(entry.id, entry.call_id) for entry in left] == [
        (str(seq), plan.call_id) for seq in range(2, 2 + len(left))
    ]
    assert [(entry.milestone, entry.key) for entry in [*first, *left]] == [
        (milestone, key)
        for done in steps
        for milestone, key in zip(done.milestones, done.milestone_keys, strict=True)
    ]
    with running_bot(db, tmp_path / "bot.log", "--jwks", str(jwks)) as bot:
        lines = bot.log_lines()
        with SQLiteStore(db) as store:
            assert store.claim_journal("test", idle=0.0) == []
    # The entry it held, taken back under its name at once, logged before the bot said
    # where it listens (its "listening" log line may follow).
    assert [line["event"] for line in lines[1:]] in ([], ["listening"])
    assert [{k: v for k, v in line.items() if k != "time"} for line in lines[:1]] == [
        {
            "event": "milestone",
            "id": entry.id,
            "key": entry.key,
            "call_id": plan.call_id,
            "milestone": entry.milestone.value,
            "cause": "startup",
        }
        for entry in held
    ]


def test_keys_from_a_published_openid_configuration(signer: Signer, tmp_path: Path) -> None:
    """Without --jwks the bot reads the configuration's jwks_uri (here a stand-in's)."""
    site = tmp_path / "site"
    site.mkdir()
    signer.write_jwks(site / "keys.json")
    known = str(uuid.uuid4())
    with serving(site) as base:
        configuration = {"issuer": "https://api.botframework.com", "jwks_uri": f"{base}/keys.json"}
        (site / "openid.json").write_text(json.dumps(configuration), encoding="utf-8")
        openid = f"{base}/openid.json"
        with running_bot(tmp_path / "a.db", tmp_path / "a.log", "--openid", openid) as bot:
            assert asyncio.run(deliver(bot.url, [established(known)], signer.token())) == [202]
            headers = {name: forged(signer)[name] for name in ("wrong key", "unknown kid")}
            assert asyncio.run(send_forged(bot.url, established(known), headers)) == {
                "wrong key": 401,
                "unknown kid": 401,
            }
            assert asyncio.run(views(bot.url, [known]))[known][0] == 200
    # The keys cannot be fetched (the stand-in has stopped): 503, so Graph delivers again.
    with running_bot(tmp_path / "b.db", tmp_path / "b.log", "--openid", openid) as bot:
        assert asyncio.run(deliver(bot.url, [established(known)], signer.token())) == [503]
        assert asyncio.run(views(bot.url, [known]))[known][0] == 404
