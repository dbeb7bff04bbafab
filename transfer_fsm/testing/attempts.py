"""Cases of several attempts (the ``retry`` tier) and the ambiguous histories of ``docs/model.md``.

Each is composed from the documented flows' own bodies and requests: a
failed attempt then a retry, a refused POST, an abandoned attempt with a
``GET``, and Graph's late word about an abandoned attempt. Where the
documentation gives the view every delivery ends in, the case carries it
(``Case.expected``), composed from the flows' documented views.
"""

from __future__ import annotations

from ..values import Call, ResultInfo
from .cases import Case, History, Source, late_copies, make_case
from .flows import SEED, SEED_CALL_ID, UP, Flow, documented_flows
from .inputs import abandoned, get, notification, rejected, requested

FIRST_FAILS = "direct failure, accepted after audio inactive, established before audio active"
RETRY_COMPLETES = "consultative success, accepted after audio inactive"
RETRY_FAILS = (
    "v1.0 blind (500/7000) failure, accepted after audio inactive, established before audio active"
)
DIRECT_SUCCESS = "direct success, accepted after audio inactive"
REFUSAL = ResultInfo(403, 0, "The call is not in a state that allows a transfer.")
"""Graph's error answer to a POST, as a bot reduces it (the HTTP status as the code)."""

MODEL = "docs/model.md"
RETRY_DECIDES = (
    "Progress and media cannot be told apart, and count for the current attempt [...] None "
    "of them can end an attempt, so the retry's own end decides its view, its terminal "
    "milestone and consultation_fate. (docs/model.md, Attempts over time)"
)
REFUSED = (
    "TransferRejected (Graph refused the POST) fails the attempt whatever arrived before it: "
    "the attempt never started. (docs/model.md, Attempts over time)"
)
ASK_GRAPH = (
    "After TransferAbandoned a GET that shows established puts the call back where the bot "
    "may transfer again. (docs/model.md, Attempts over time)"
)
PROOF_WINS = (
    "So a proof of the transfer outranks a 404: the view ends completed with "
    "terminationReason: AppTransferred whichever arrived first. (docs/model.md, "
    "Attempts over time)"
)
FAILURE_AFTER_GIVE_UP = (
    "Graph's own word about the attempt still ends it, exactly once: a failure resultInfo "
    "it did not know fails it (transferFailed). (docs/model.md, Attempts over time)"
)
AFTER_NEXT = (
    "Graph's word about an abandoned attempt, after the next one opened [...] counts for "
    "attempt n + 1, the one in flight. (docs/model.md, ambiguity 16)"
)
REVERSED = (
    "Delivered the other way round, the completion is read first, as the first attempt's, "
    "and the failure after it is stale. (docs/model.md, ambiguity 17)"
)
SAME_FAILURE = (
    "A retry that really fails with an earlier failure's resultInfo [...] is stale and the "
    "retry stays in flight [...] The bot's timeout ends it. (docs/model.md, ambiguity 11)"
)


def _flows() -> dict[str, Flow]:
    return {flow.name: flow for flow in documented_flows() if flow.request is not None}


def _after_failure(first: Flow, retry: Flow) -> Call:
    """The retry's documented view after ``first`` failed: its own, numbered 2."""
    final, failed = retry.final, first.final.transfer
    assert final.transfer is not None
    assert failed is not None
    assert failed.result is not None
    return final._replace(
        transfer=final.transfer._replace(attempt=2), earlier_failures=(failed.result,)
    )


def _retry(case_id: str, name: str, first: Flow, retry: Flow) -> Case:
    """A failed attempt, then a retry; the first attempt's notifications again, late."""
    history = History()
    firsts = history.flow(first)
    history.bot(requested(retry.request.body), follows=firsts)  # type: ignore[union-attr]
    history.flow(Flow(retry.name, retry.start, None, retry.bodies, retry.final))
    order = tuple(range(len(history.inputs)))
    request = len(firsts) + 1
    return make_case(
        case_id,
        name,
        "retry",
        Source(
            MODEL, "Attempts over time: a retry with the first attempt's mail late", RETRY_DECIDES
        ),
        history,
        UP,
        SEED_CALL_ID,
        shuffles=30,
        extra=late_copies(firsts, request, order),
        expected=_after_failure(first, retry),
    )


def _established() -> dict[str, object]:
    """Graph's answer to GET of a call that is up again, audio flowing."""
    return {"id": SEED_CALL_ID, "state": "established", "mediaState": {"audio": "active"}}


def _refused(flows: dict[str, Flow]) -> Case:
    success = flows[DIRECT_SUCCESS]
    history = History()
    history.bot(requested(success.request.body))  # type: ignore[union-attr]
    history.bot(rejected(REFUSAL))
    history.flow(success)
    final = success.final
    assert final.transfer is not None
    return make_case(
        "retry-refused-post-then-a-retry-completes",
        "a POST Graph refuses, then a retry that completes",
        "retry",
        Source(MODEL, "Attempts over time: the bot ends what Graph does not", REFUSED),
        history,
        UP,
        SEED_CALL_ID,
        shuffles=20,
        expected=final._replace(
            transfer=final.transfer._replace(attempt=2), earlier_failures=(REFUSAL,)
        ),
    )


def _abandoned_then_retry(flows: dict[str, Flow]) -> Case:
    first, retry = flows[DIRECT_SUCCESS], flows[RETRY_COMPLETES]
    history = History()
    request = history.bot(requested(first.request.body))  # type: ignore[union-attr]
    progress = [history.graph(notification(body)) for body in first.bodies[:2]]
    history.bot(abandoned(1), follows=[request])
    history.bot(get(_established()))
    second = history.bot(requested(retry.request.body))  # type: ignore[union-attr]
    history.flow(Flow(retry.name, retry.start, None, retry.bodies, retry.final))
    final = retry.final
    assert final.transfer is not None
    return make_case(
        "retry-abandoned-attempt-a-get-then-a-retry-completes",
        "the bot abandons attempt 1, GETs the call (established), retries, and the retry completes",
        "retry",
        Source(MODEL, "Attempts over time: asking Graph", ASK_GRAPH),
        history,
        UP,
        SEED_CALL_ID,
        shuffles=30,
        extra=late_copies(progress, second, tuple(range(len(history.inputs)))),
        expected=final._replace(transfer=final.transfer._replace(attempt=2)),
    )


def _proof_after_404(flows: dict[str, Flow]) -> Case:
    success = flows[DIRECT_SUCCESS]
    history = History()
    request = history.bot(requested(success.request.body))  # type: ignore[union-attr]
    *progress, proof = success.bodies
    for body in progress:
        history.graph(notification(body))
    history.bot(abandoned(1), follows=[request])
    history.bot(get(None))
    history.graph(notification(proof), follows=[request])
    return make_case(
        "retry-abandoned-attempt-a-get-answered-404-and-the-proof-late",
        "the bot abandons attempt 1, GET answers 404, and Graph's proof of the transfer comes late",
        "retry",
        Source(MODEL, "Attempts over time: the bot's guess is not Graph's word", PROOF_WINS),
        history,
        UP,
        SEED_CALL_ID,
        shuffles=30,
    )


def _failure_after_give_up(flows: dict[str, Flow]) -> Case:
    failure = flows[FIRST_FAILS]
    history = History()
    request = history.bot(requested(failure.request.body))  # type: ignore[union-attr]
    progress, ending = failure.bodies[:3], failure.bodies[3:]
    for body in progress:
        history.graph(notification(body))
    history.bot(abandoned(1), follows=[request])
    for body in ending:
        history.graph(notification(body), follows=[request])
    return make_case(
        "retry-abandoned-attempt-then-graphs-failure",
        "the bot abandons attempt 1, then Graph's failure of it arrives",
        "retry",
        Source(
            MODEL, "Attempts over time: the bot's guess is not Graph's word", FAILURE_AFTER_GIVE_UP
        ),
        history,
        UP,
        SEED_CALL_ID,
        shuffles=30,
        expected=failure.final,
    )


def _proof_after_next_request(flows: dict[str, Flow]) -> Case:
    first, retry = flows[DIRECT_SUCCESS], flows[RETRY_COMPLETES]
    history = History()
    request = history.bot(requested(first.request.body))  # type: ignore[union-attr]
    history.graph(notification(first.bodies[0]))
    history.bot(abandoned(1))
    history.bot(requested(retry.request.body))  # type: ignore[union-attr]
    history.graph(notification(SEED["direct-terminated"]), follows=[request])
    return make_case(
        "ambiguous-abandoned-attempts-proof-after-the-next-request",
        "the bot abandons attempt 1 and retries without a GET; attempt 1's proof arrives anywhere",
        "ambiguous",
        Source(MODEL, "ambiguity 16: Graph's word about an abandoned attempt", AFTER_NEXT),
        history,
        UP,
        SEED_CALL_ID,
        shuffles=10,
    )


def _observed_reversed() -> Case:
    history = History()
    history.graph(notification(SEED["direct-established-failed"]))
    history.graph(notification(SEED["direct-terminated"]))
    return make_case(
        "ambiguous-two-observed-attempts-in-either-order",
        "two attempts a bot only observes (a failure, then a completion), in either order",
        "ambiguous",
        Source(MODEL, "ambiguity 17: two attempts a bot only observes", REVERSED),
        history,
        UP,
        SEED_CALL_ID,
        shuffles=6,
    )


def _same_failure_twice(flows: dict[str, Flow]) -> Case:
    first = flows[FIRST_FAILS]
    history = History()
    firsts = history.flow(first)
    retry = history.bot(requested(first.request.body), follows=firsts)  # type: ignore[union-attr]
    for body in first.bodies:
        history.graph(notification(body))
    history.bot(abandoned(2), follows=[retry])
    history.bot(get(_established()))
    return make_case(
        "ambiguous-a-retry-failing-with-the-first-failures-result",
        "a retry that fails with exactly the first attempt's resultInfo, then the bot's "
        "timeout and a GET",
        "ambiguous",
        Source(MODEL, "ambiguity 11: a retry that fails like the first", SAME_FAILURE),
        history,
        UP,
        SEED_CALL_ID,
        shuffles=20,
    )


def history_cases() -> list[Case]:
    """The ``retry`` cases, then the ambiguous histories of several attempts."""
    flows = _flows()
    return [
        _retry(
            "retry-failed-attempt-then-a-retry-completes",
            "a failed attempt (500/1000), then a consultative retry that completes",
            flows[FIRST_FAILS],
            flows[RETRY_COMPLETES],
        ),
        _retry(
            "retry-failed-attempt-then-a-retry-fails",
            "a failed attempt (500/1000), then a retry that fails (500/7000)",
            flows[FIRST_FAILS],
            flows[RETRY_FAILS],
        ),
        _refused(flows),
        _abandoned_then_retry(flows),
        _proof_after_404(flows),
        _failure_after_give_up(flows),
        _proof_after_next_request(flows),
        _observed_reversed(),
        _same_failure_twice(flows),
    ]
