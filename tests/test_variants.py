"""Every documented transfer variant, its payload quirks, and the legacy operation form.

Graph documents the same few notifications for many request kinds: a PSTN
transfer and a transfer out of a group call notify as a blind transfer does,
a consultative PSTN transfer as a consultative one does (its failure without
``replacesContext``). Each variant here is mapped to the flows whose every
delivery order ``test_exhaustive.py`` replays, and the flows must contain the
variant's documented notifications and end in its documented view.
"""

from __future__ import annotations

import copy
from itertools import permutations
from typing import Any

import pytest
from flows import (
    CALL_ID,
    DOCS,
    FLOWS,
    LEGACY_CALL_ID,
    REQUEST,
    SEED,
    VARIANT_FLOWS,
    Body,
    completed_view,
    events_of,
    failed_view,
    replay,
    request_of,
    step_through,
)

import transfer_fsm as tf
from transfer_fsm import (
    Audio,
    Call,
    CallState,
    Outcome,
    ResultInfo,
    Transfer,
    TransferRequested,
    TransferStatus,
)

S = TransferStatus


GRACEFUL = completed_view(ResultInfo(0, 7015, "GracefulTransferCompleted"), None)
APP_TRANSFERRED = completed_view(None, "AppTransferred")
BLIND_FAILED = failed_view(7000, None)
CONSULTATIVE_FAILED = failed_view(7700, "<replacesContext>")
CONSULTATIVE_PSTN_FAILED = failed_view(7700, None)

# (variant, the notification that ends it, the view it must end in)
VARIANTS: list[tuple[str, str, Call]] = [
    ("v1.0 example 1, blind: success", "v1-completed-7015", GRACEFUL),
    ("v1.0 example 1, blind: failure", "v1-failed-7000", BLIND_FAILED),
    ("v1.0 example 2, consultative: success", "v1-completed-app-transferred", APP_TRANSFERRED),
    ("v1.0 example 2, consultative: failure", "v1-failed-7700-with-context", CONSULTATIVE_FAILED),
    ("v1.0 example 3, PSTN: success", "v1-completed-7015", GRACEFUL),
    ("v1.0 example 3, PSTN: failure", "v1-failed-7000", BLIND_FAILED),
    ("v1.0 example 4, consultative PSTN: success", "v1-completed-app-transferred", APP_TRANSFERRED),
    ("v1.0 example 4, consultative PSTN: failure", "v1-failed-7700", CONSULTATIVE_PSTN_FAILED),
    ("v1.0 example 5, group call: success", "v1-completed-7015", GRACEFUL),
    ("v1.0 example 5, group call: failure", "v1-failed-7000", BLIND_FAILED),
]


@pytest.mark.parametrize(("variant", "ending", "view"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_every_variant_is_replayed_in_every_order_by_a_flow_ending_in_its_view(
    variant: str, ending: str, view: Call
) -> None:
    documented = [DOCS["v1-transferring"], DOCS["v1-transfer-accepted"], DOCS[ending]]
    covering = [
        flow for flow in [*FLOWS, *VARIANT_FLOWS] if all(body in flow.bodies for body in documented)
    ]
    assert covering, f"no exhaustively replayed flow carries {variant}'s notifications"
    # The views here are the notifications' (the variant's own request is another's).
    assert {_with_request(flow.final, REQUEST) for flow in covering} == {view}


def _with_request(call: Call, request: TransferRequested) -> Call:
    assert call.transfer is not None
    return call._replace(transfer=call.transfer._replace(request=request))


def test_the_legacy_bodies_keep_the_quirks_the_page_documents() -> None:
    """The legacy page's bodies: ``resource`` only, ``/app/calls``, codes as strings,
    progress as a ``subCode`` word; the fixtures must not be tidied into v1.0 form."""
    operation = DOCS["legacy-operation-transferring"]["value"][0]
    terminated = DOCS["legacy-terminated"]["value"][0]
    for item in (operation, terminated):
        assert "resourceUrl" not in item
        assert item["resource"].startswith(f"/app/calls/{LEGACY_CALL_ID}")
    assert operation["resourceData"]["resultInfo"] == {"code": "200", "subCode": "transferring"}
    (event,) = events_of(DOCS["legacy-operation-transferring"])
    assert event == tf.OperationNotification(
        LEGACY_CALL_ID,
        "0FE0623FD62842EDB4BD8AC290072CC5",
        tf.ChangeType.UPDATED,
        "running",
        ResultInfo(200, 0),
        "transferring",
        "d45324c1-fcb5-430a-902c-f20af696537c",
        operation["resourceData"],
    )


def test_the_legacy_operation_progress_drives_the_transfer_status_step_by_step() -> None:
    steps = step_through(
        Call(LEGACY_CALL_ID, CallState.ESTABLISHED, Audio.ACTIVE),
        tf.TransferRequested(client_context="d45324c1-fcb5-430a-902c-f20af696537c"),
        *events_of(DOCS["legacy-operation-transferring"], DOCS["legacy-operation-accepted"]),
    )
    request = TransferRequested(None, "d45324c1-fcb5-430a-902c-f20af696537c")
    assert [(step.call.transfer, step.milestones) for step in steps] == [
        (Transfer(S.REQUESTED, request=request), ()),
        (Transfer(S.TRANSFERRING, request=request), ()),
        (Transfer(S.ACCEPTED, request=request), (tf.Milestone.TRANSFER_ACCEPTED,)),
    ]
    assert {step.call.state for step in steps} == {CallState.ESTABLISHED}


# The legacy transfer operation failing -------------------------------------------

CONTEXT = "d45324c1-fcb5-430a-902c-f20af696537c"


def _operation(status: str, info: dict[str, Any], context: str = CONTEXT, op: str = "op1") -> Body:
    url = f"/app/calls/{LEGACY_CALL_ID}/operations/{op}"
    change = "updated" if status == "running" else "deleted"
    data = {
        "@odata.type": "#microsoft.graph.commsOperation",
        "clientContext": context,
        "resultInfo": info,
        "status": status,
    }
    return {"value": [{"changeType": change, "resource": url, "resourceData": data}]}


RUNNING = _operation("running", {"code": "200", "subCode": "transferring"})
FAILED_OPERATION = _operation("failed", {"code": "500", "subCode": "7000", "message": "failed"})
LEGACY_UP = Call(LEGACY_CALL_ID, CallState.ESTABLISHED, Audio.ACTIVE)
LEGACY_REQUEST = TransferRequested(client_context=CONTEXT)


def test_a_failed_transfer_operation_fails_the_attempt_in_either_order() -> None:
    """The operation echoes the request's clientContext, so it is the transfer's."""
    failure = ResultInfo(500, 7000, "failed")
    expected = LEGACY_UP._replace(
        transfer=Transfer(S.FAILED, failure, request=LEGACY_REQUEST), result=failure
    )
    for order in permutations(events_of(RUNNING, FAILED_OPERATION)):
        assert replay(tf.reduce(LEGACY_UP, LEGACY_REQUEST), *order) == expected


def test_a_failed_operation_with_a_transfer_word_fails_an_observed_attempt() -> None:
    body = _operation("failed", {"code": "500", "subCode": "transferring"}, context="other")
    (step,) = step_through(LEGACY_UP, *events_of(body))
    assert step == tf.Step(
        LEGACY_UP._replace(
            transfer=Transfer(S.FAILED, ResultInfo(500, 0)), result=ResultInfo(500, 0)
        ),
        Outcome.APPLIED,
        (tf.Milestone.TRANSFER_FAILED,),
        "opened an attempt by observation: failed: 500/0; resultInfo 500/0",
    )


def test_another_operation_failing_leaves_the_transfer_alone() -> None:
    """A prompt or an invitation failing is not the transfer failing."""
    other = _operation("failed", {"code": "500", "subCode": "8500"}, context="prompt-7", op="op2")
    call = replay(tf.reduce(LEGACY_UP, LEGACY_REQUEST), *events_of(RUNNING))
    (step,) = step_through(call, *events_of(other))
    assert step == tf.Step(call, Outcome.IGNORED, (), "the operation carries no transfer progress")
    assert call.transfer == Transfer(S.TRANSFERRING, request=LEGACY_REQUEST)


def test_a_failed_prompt_sharing_the_transfers_context_is_not_the_transfer() -> None:
    """Graph's own examples reuse one clientContext across actions; an operation of
    another type (a prompt) is never the transfer's, whatever its context."""
    prompt = _operation("failed", {"code": "500", "subCode": "8500"})
    prompt["value"][0]["resourceData"]["@odata.type"] = "#microsoft.graph.playPromptOperation"
    call = replay(tf.reduce(LEGACY_UP, LEGACY_REQUEST), *events_of(RUNNING))
    (step,) = step_through(call, *events_of(prompt))
    assert step == tf.Step(call, Outcome.IGNORED, (), "the operation carries no transfer progress")


def test_a_second_failure_that_disagrees_is_stale_not_a_duplicate() -> None:
    failed = replay(tf.reduce(LEGACY_UP, LEGACY_REQUEST), *events_of(FAILED_OPERATION))
    again = step_through(failed, *events_of(FAILED_OPERATION))
    other = _operation("failed", {"code": "500", "subCode": "9999"})
    differs = step_through(failed, *events_of(other))
    assert [(s.outcome, s.call) for s in again + differs] == [
        (Outcome.DUPLICATE, failed),
        (Outcome.STALE, failed),
    ]


def test_a_failed_operation_echoing_a_context_without_a_request_is_not_guessed_at() -> None:
    (step,) = step_through(LEGACY_UP, *events_of(FAILED_OPERATION))
    assert step.outcome is Outcome.IGNORED
    assert step.call == LEGACY_UP


# Payload quirks: one POST, every spelling ------------------------------------------


def _quirky(body: Body, index: int) -> Body:
    """The same notification in another documented spelling, chosen by ``index``."""
    item: Body = copy.deepcopy(body["value"][0])
    url = item.pop("resourceUrl")
    app_url = url.replace("/communications/", "/app/")
    spelling = index % 4
    if spelling == 0:
        item["resource"] = app_url  # the legacy key and path only
    elif spelling == 1:
        item["resource"] = app_url  # both keys, as real payloads carry them
        item["resourceUrl"] = url
    elif spelling == 2:
        item["resourceUrl"] = url
        item["resourceData"] = [item["resourceData"]]  # a collection of one call
    else:
        item["resourceUrl"] = url
    info = item["resourceData"]
    info = info[0] if isinstance(info, list) else info
    result = info.get("resultInfo")
    if result is not None:
        key = "subcode" if "subcode" in result else "subCode"
        other = "subCode" if key == "subcode" else "subcode"
        result[other] = str(result.pop(key))  # the other key, the value as a string
        result["code"] = str(result["code"])
    return item


QUIRK_FLOWS = [flow for flow in [*FLOWS, *VARIANT_FLOWS] if flow.final.call_id == CALL_ID]


@pytest.mark.parametrize("flow", QUIRK_FLOWS, ids=lambda flow: flow.name)
def test_every_spelling_in_one_post_reads_as_the_documented_notifications(flow: Any) -> None:
    batch = {"value": [_quirky(body, i) for i, body in enumerate(flow.bodies)]}
    quirky = tf.parse_notifications(batch)
    documented = flow.events()

    def meaning(event: tf.Notification) -> tuple[object, ...]:
        return tuple(event)[:-2]  # everything but the raw resourceData and its envelope

    assert [meaning(event) for event in quirky] == [meaning(event) for event in documented]
    assert replay(tf.reduce(Call(CALL_ID), request_of(flow)), *quirky) == flow.final


def test_success_code_0_or_200_and_the_subcode_decide_completion() -> None:
    for code in (0, 200, "0", "200", 202):
        body = copy.deepcopy(DOCS["v1-completed-7015"])
        body["value"][0]["resourceData"]["resultInfo"]["code"] = code
        call = replay(tf.reduce(Call(CALL_ID), REQUEST), *events_of(body))
        assert call.transfer is not None
        assert call.transfer.status is S.COMPLETED, code
    ended_by_bot = copy.deepcopy(DOCS["v1-completed-7015"])
    ended_by_bot["value"][0]["resourceData"]["resultInfo"].update(code=200, subcode=7000)
    call = replay(tf.reduce(Call(CALL_ID), REQUEST), *events_of(ended_by_bot))
    assert call.transfer == Transfer(
        S.FAILED, ResultInfo(200, 7000, "GracefulTransferCompleted"), None, Audio.INACTIVE, REQUEST
    )


def test_the_seed_and_the_v1_pages_share_their_common_notifications() -> None:
    assert (
        DOCS["v1-transferring"] == SEED["direct-transferring"] == SEED["consultative-transferring"]
    )
    assert DOCS["v1-transfer-accepted"] == SEED["direct-transfer-accepted"]
    assert DOCS["v1-completed-app-transferred"] == SEED["consultative-terminated"]
