"""The conformance vectors: shipped, valid, generated from the kit's flows, and stable.

Every case file validates against the shipped case schema (``jsonschema``);
regenerating them gives the shipped bytes; every delivery is replayed by an
independent harness (``examples/harness/reference.py``) to its ``final`` and
milestones; the documented tier ends in each flow's documented view (written
from the docs); and the ids of the first release never change.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema

import transfer_fsm as tf
from transfer_fsm.testing import documented_flows
from transfer_fsm.testing.cases import all_cases, delivery_orders
from transfer_fsm.testing.inputs import BOT_KINDS, requested_of
from transfer_fsm.testing.runner import requests
from transfer_fsm.testing.schemas import (
    CASE_SCHEMA,
    PROTOCOL_SCHEMA,
    case_schema,
    protocol_schema,
    schema_text,
)
from transfer_fsm.testing.vectors import generated, load_cases, shipped_folder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "harness"))
import reference as harness  # noqa: E402 - examples/harness/reference.py

KIT = ROOT / "transfer_fsm" / "testing"
CASES = load_cases()
BY_ID = {case["id"]: case for case in CASES}
FLOWS = {flow.name: flow for flow in documented_flows()}

PINNED_IDS = [
    "ambiguous-a-retry-failing-with-the-first-failures-result",
    "ambiguous-abandoned-attempts-proof-after-the-next-request",
    "ambiguous-restore-first-consultative-failure-accepted-after-audio-inactive-established-before-audio-active-observed",
    "ambiguous-restore-first-consultative-failure-accepted-before-audio-inactive-established-before-audio-active-observed",
    "ambiguous-restore-first-direct-failure-accepted-after-audio-inactive-established-before-audio-active-observed",
    "ambiguous-restore-first-direct-failure-accepted-before-audio-inactive-established-before-audio-active-observed",
    "ambiguous-restore-first-v1-0-blind-500-7000-failure-accepted-after-audio-inactive-established-before-audio-active-observed",
    "ambiguous-restore-first-v1-0-blind-500-7000-failure-accepted-before-audio-inactive-established-before-audio-active-observed",
    "ambiguous-restore-first-v1-0-consultative-500-7700-failure-accepted-after-audio-inactive-established-before-audio-active-observed",
    "ambiguous-restore-first-v1-0-consultative-500-7700-failure-accepted-before-audio-inactive-established-before-audio-active-observed",
    "ambiguous-restore-first-v1-0-consultative-pstn-500-7700-no-replacescontext-failure-accepted-after-audio-inactive-established-before-audio-active-observed",
    "ambiguous-restore-first-v1-0-consultative-pstn-500-7700-no-replacescontext-failure-accepted-before-audio-inactive-established-before-audio-active-observed",
    "ambiguous-two-observed-attempts-in-either-order",
    "documented-consultative-failure-accepted-after-audio-inactive-established-after-audio-active",
    "documented-consultative-failure-accepted-after-audio-inactive-established-after-audio-active-observed",
    "documented-consultative-failure-accepted-after-audio-inactive-established-before-audio-active",
    "documented-consultative-failure-accepted-after-audio-inactive-established-before-audio-active-observed",
    "documented-consultative-failure-accepted-before-audio-inactive-established-after-audio-active",
    "documented-consultative-failure-accepted-before-audio-inactive-established-after-audio-active-observed",
    "documented-consultative-failure-accepted-before-audio-inactive-established-before-audio-active",
    "documented-consultative-failure-accepted-before-audio-inactive-established-before-audio-active-observed",
    "documented-consultative-success-accepted-after-audio-inactive",
    "documented-consultative-success-accepted-after-audio-inactive-observed",
    "documented-consultative-success-accepted-before-audio-inactive",
    "documented-consultative-success-accepted-before-audio-inactive-observed",
    "documented-direct-failure-accepted-after-audio-inactive-established-after-audio-active",
    "documented-direct-failure-accepted-after-audio-inactive-established-after-audio-active-observed",
    "documented-direct-failure-accepted-after-audio-inactive-established-before-audio-active",
    "documented-direct-failure-accepted-after-audio-inactive-established-before-audio-active-observed",
    "documented-direct-failure-accepted-before-audio-inactive-established-after-audio-active",
    "documented-direct-failure-accepted-before-audio-inactive-established-after-audio-active-observed",
    "documented-direct-failure-accepted-before-audio-inactive-established-before-audio-active",
    "documented-direct-failure-accepted-before-audio-inactive-established-before-audio-active-observed",
    "documented-direct-success-accepted-after-audio-inactive",
    "documented-direct-success-accepted-after-audio-inactive-observed",
    "documented-direct-success-accepted-before-audio-inactive",
    "documented-direct-success-accepted-before-audio-inactive-observed",
    "documented-legacy-beta-commsoperation-transfer",
    "documented-legacy-beta-commsoperation-transfer-failing-among-call-notifications-inferred",
    "documented-legacy-beta-commsoperation-transfer-observed",
    "documented-success-code-200-as-a-string-success-accepted-after-audio-inactive",
    "documented-success-code-200-as-a-string-success-accepted-after-audio-inactive-observed",
    "documented-success-code-200-as-a-string-success-accepted-before-audio-inactive",
    "documented-success-code-200-as-a-string-success-accepted-before-audio-inactive-observed",
    "documented-v1-0-blind-500-7000-failure-accepted-after-audio-inactive-established-after-audio-active",
    "documented-v1-0-blind-500-7000-failure-accepted-after-audio-inactive-established-after-audio-active-observed",
    "documented-v1-0-blind-500-7000-failure-accepted-after-audio-inactive-established-before-audio-active",
    "documented-v1-0-blind-500-7000-failure-accepted-after-audio-inactive-established-before-audio-active-observed",
    "documented-v1-0-blind-500-7000-failure-accepted-before-audio-inactive-established-after-audio-active",
    "documented-v1-0-blind-500-7000-failure-accepted-before-audio-inactive-established-after-audio-active-observed",
    "documented-v1-0-blind-500-7000-failure-accepted-before-audio-inactive-established-before-audio-active",
    "documented-v1-0-blind-500-7000-failure-accepted-before-audio-inactive-established-before-audio-active-observed",
    "documented-v1-0-consultative-500-7700-failure-accepted-after-audio-inactive-established-after-audio-active",
    "documented-v1-0-consultative-500-7700-failure-accepted-after-audio-inactive-established-after-audio-active-observed",
    "documented-v1-0-consultative-500-7700-failure-accepted-after-audio-inactive-established-before-audio-active",
    "documented-v1-0-consultative-500-7700-failure-accepted-after-audio-inactive-established-before-audio-active-observed",
    "documented-v1-0-consultative-500-7700-failure-accepted-before-audio-inactive-established-after-audio-active",
    "documented-v1-0-consultative-500-7700-failure-accepted-before-audio-inactive-established-after-audio-active-observed",
    "documented-v1-0-consultative-500-7700-failure-accepted-before-audio-inactive-established-before-audio-active",
    "documented-v1-0-consultative-500-7700-failure-accepted-before-audio-inactive-established-before-audio-active-observed",
    "documented-v1-0-consultative-pstn-500-7700-no-replacescontext-failure-accepted-after-audio-inactive-established-after-audio-active",
    "documented-v1-0-consultative-pstn-500-7700-no-replacescontext-failure-accepted-after-audio-inactive-established-after-audio-active-observed",
    "documented-v1-0-consultative-pstn-500-7700-no-replacescontext-failure-accepted-after-audio-inactive-established-before-audio-active",
    "documented-v1-0-consultative-pstn-500-7700-no-replacescontext-failure-accepted-after-audio-inactive-established-before-audio-active-observed",
    "documented-v1-0-consultative-pstn-500-7700-no-replacescontext-failure-accepted-before-audio-inactive-established-after-audio-active",
    "documented-v1-0-consultative-pstn-500-7700-no-replacescontext-failure-accepted-before-audio-inactive-established-after-audio-active-observed",
    "documented-v1-0-consultative-pstn-500-7700-no-replacescontext-failure-accepted-before-audio-inactive-established-before-audio-active",
    "documented-v1-0-consultative-pstn-500-7700-no-replacescontext-failure-accepted-before-audio-inactive-established-before-audio-active-observed",
    "documented-v1-0-direct-0-7015-success-accepted-after-audio-inactive",
    "documented-v1-0-direct-0-7015-success-accepted-after-audio-inactive-observed",
    "documented-v1-0-direct-0-7015-success-accepted-before-audio-inactive",
    "documented-v1-0-direct-0-7015-success-accepted-before-audio-inactive-observed",
    "retry-abandoned-attempt-a-get-answered-404-and-the-proof-late",
    "retry-abandoned-attempt-a-get-then-a-retry-completes",
    "retry-abandoned-attempt-then-graphs-failure",
    "retry-failed-attempt-then-a-retry-completes",
    "retry-failed-attempt-then-a-retry-fails",
    "retry-refused-post-then-a-retry-completes",
]
"""Every case id of the first release: an id is never changed or reused (docs/conformance.md)."""


def test_every_id_of_the_first_release_is_still_shipped_unchanged() -> None:
    assert sorted(BY_ID) == PINNED_IDS
    assert sorted(case.id for case in all_cases()) == PINNED_IDS


def test_regenerating_the_vectors_gives_the_shipped_files_byte_for_byte() -> None:
    shipped = {path.name: path.read_text("utf-8") for path in shipped_folder().glob("*.json")}
    assert shipped == generated(), (
        "python -m transfer_fsm vectors --write transfer_fsm/testing/vectors"
    )


def test_the_shipped_schemas_are_the_generated_ones() -> None:
    assert (KIT / CASE_SCHEMA).read_text("utf-8") == schema_text(case_schema())
    assert (KIT / PROTOCOL_SCHEMA).read_text("utf-8") == schema_text(protocol_schema())


def test_every_vector_validates_against_the_case_schema() -> None:
    schema = json.loads((KIT / CASE_SCHEMA).read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for case in CASES:
        errors = [error.message for error in validator.iter_errors(case)]
        assert errors == [], case["id"]


def test_the_case_schema_refuses_what_is_not_a_case() -> None:
    validator = jsonschema.Draft202012Validator(json.loads((KIT / CASE_SCHEMA).read_text("utf-8")))
    case = json.loads(json.dumps(CASES[0]))
    case["inputs"][0] = {"kind": "abandoned"}
    case["deliveries"][0]["milestones"].append(
        {"milestone": "transferDone", "attempt": 1, "key": "k"}
    )
    del case["source"]["says"]
    assert len(list(validator.iter_errors(case))) == 3


def test_the_lines_sent_and_the_reference_harnesss_answers_follow_the_protocol_schema() -> None:
    schema = json.loads((KIT / PROTOCOL_SCHEMA).read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    line = jsonschema.Draft202012Validator({**schema, "$ref": "#/$defs/request"})
    answer = jsonschema.Draft202012Validator({**schema, "$ref": "#/$defs/answer"})
    for case in CASES[::7]:
        for _, request in requests(case):
            sent = json.loads(json.dumps(request))
            assert list(line.iter_errors(sent)) == []
            assert list(answer.iter_errors(harness.apply(sent))) == []


def _pairs(milestones: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(item["milestone"], item["attempt"]) for item in milestones]


def test_an_independent_harness_replays_every_delivery_to_its_final_and_milestones() -> None:
    deliveries = 0
    for case in CASES:
        for number, request in requests(case):
            expected = case["deliveries"][number]
            answer = harness.apply(request)
            assert {**answer["view"], "version": 2} == expected["final"], (case["id"], number)
            assert _pairs(answer["milestones"]) == _pairs(expected["milestones"])
            deliveries += 1
    assert deliveries == sum(len(case["deliveries"]) for case in CASES)


def test_each_milestone_carries_the_reducers_key_for_its_attempt() -> None:
    for case in CASES:
        call_id = case["call_id"]
        for delivery in case["deliveries"]:
            for item in delivery["milestones"]:
                if item["milestone"] == "callTerminated":
                    assert item["key"] == f"{call_id}:callTerminated"
                else:
                    assert item["key"] == f"{call_id}:{item['attempt']}:{item['milestone']}"
            keys = Counter(item["key"] for item in delivery["milestones"])
            terminal = [k for k in keys if k.endswith(("transferCompleted", "transferFailed"))]
            assert all(keys[key] == 1 for key in terminal), case["id"]


def test_every_documented_flow_is_a_case_ending_in_its_documented_view_in_every_delivery() -> None:
    documented = [case for case in CASES if case["tier"] == "documented"]
    assert sorted(case["name"] for case in documented) == sorted(FLOWS)
    for case in documented:
        flow = FLOWS[case["name"]]
        assert case["start"] == flow.start.to_dict()
        assert [i["body"] for i in case["inputs"] if i["kind"] == "notification"] == list(
            flow.bodies
        )
        requests_ = [i["request"] for i in case["inputs"] if i["kind"] == "requested"]
        assert requests_ == ([] if flow.request is None else [flow.request.body])
        for delivery in case["deliveries"]:
            assert delivery["final"] == flow.final.to_dict(), (case["id"], delivery["order"])


def test_the_ambiguous_restore_first_deliveries_are_exactly_those_the_kit_refuses() -> None:
    restore_first = [case for case in CASES if case["id"].startswith("ambiguous-restore-first-")]
    assert len(restore_first) == 10
    for case in restore_first:
        flow = FLOWS[case["name"].removesuffix(", the audio-active restore delivered first")]
        assert flow.request is None
        for delivery in case["deliveries"]:
            delivered = [case["inputs"][i]["body"] for i in delivery["order"]]
            assert not flow.documented(delivered)
            assert delivery["final"] != flow.final.to_dict()
    for case in CASES:
        if case["tier"] == "documented":
            flow = FLOWS[case["name"]]
            for delivery in case["deliveries"]:
                notes = [case["inputs"][i] for i in delivery["order"]]
                assert flow.documented([i["body"] for i in notes if i["kind"] == "notification"])


def test_the_cases_the_docs_give_one_view_for_end_in_it_in_every_delivery() -> None:
    """The retry tier's views are composed from the flows' documented views."""
    checked = 0
    for case in all_cases():
        if case.expected is None:
            continue
        finals = {
            json.dumps(BY_ID[case.id]["deliveries"][n]["final"])
            for n in range(len(BY_ID[case.id]["deliveries"]))
        }
        assert finals == {json.dumps(case.expected.to_dict())}, case.id
        checked += 1
    assert checked == 59 + 5  # every documented flow, and five of the six retry cases
    proof = BY_ID["retry-abandoned-attempt-a-get-answered-404-and-the-proof-late"]
    ends = {
        (d["final"]["transfer"]["status"], d["final"]["termination_reason"])
        for d in proof["deliveries"]
    }
    assert ends == {("completed", "AppTransferred")}


def test_an_ambiguous_history_has_the_views_the_model_lists() -> None:
    """Ambiguities 16 and 17: the attempt number depends on the delivery order."""
    for name in (
        "ambiguous-abandoned-attempts-proof-after-the-next-request",
        "ambiguous-two-observed-attempts-in-either-order",
    ):
        attempts = {d["final"]["transfer"]["attempt"] for d in BY_ID[name]["deliveries"]}
        statuses = {d["final"]["transfer"]["status"] for d in BY_ID[name]["deliveries"]}
        assert (attempts, statuses) == ({1, 2}, {"completed"}), name
    same = BY_ID["ambiguous-a-retry-failing-with-the-first-failures-result"]
    assert {d["final"]["transfer"]["status"] for d in same["deliveries"]} == {"abandoned"}


def _respects(case: dict[str, Any], order: list[int], after: list[frozenset[int]]) -> bool:
    firsts = {index: order.index(index) for index in set(order)}
    return all(firsts[i] > firsts[j] for i in firsts for j in after[i])


def test_every_delivery_holds_each_input_respects_the_story_and_copies_only_notifications() -> None:
    for built in all_cases():
        case = BY_ID[built.id]
        bots = [i for i, item in enumerate(case["inputs"]) if item["kind"] in BOT_KINDS]
        for delivery in case["deliveries"]:
            order = delivery["order"]
            assert set(order) == set(range(len(case["inputs"]))), case["id"]
            assert [i for i in order if i in bots] == bots, case["id"]
            assert _respects(case, order, list(built.after)), (case["id"], order)
        orders = [tuple(d["order"]) for d in case["deliveries"]]
        assert len(set(orders)) == len(orders)
        assert [kind for kind, _ in delivery_orders(built)] == [
            d["kind"] for d in case["deliveries"]
        ]


def test_the_deliveries_include_races_duplicates_late_copies_and_every_kind_of_input() -> None:
    kinds = Counter(d["kind"] for case in CASES for d in case["deliveries"])
    assert set(kinds) == {"documented", "restore-first", "swap", "shuffle", "late-copy"}
    copied = [
        d for case in CASES for d in case["deliveries"] if len(d["order"]) > len(set(d["order"]))
    ]
    late = [d for d in copied if d["order"].count(d["order"][-1]) > 1]
    assert len(copied) > 500
    assert len(late) > 100
    inputs = {(item["kind"], item.get("status")) for case in CASES for item in case["inputs"]}
    assert inputs == {
        ("notification", None),
        ("requested", None),
        ("rejected", None),
        ("abandoned", None),
        ("get", 200),
        ("get", 404),
    }


def test_the_retry_cases_deliver_the_first_attempts_notifications_after_the_retrys_request() -> (
    None
):
    for name in (
        "retry-failed-attempt-then-a-retry-completes",
        "retry-failed-attempt-then-a-retry-fails",
    ):
        case = BY_ID[name]
        second = [i for i, item in enumerate(case["inputs"]) if item["kind"] == "requested"][1]
        late = [d for d in case["deliveries"] if d["kind"] == "late-copy"]
        assert len(late) == 10
        for delivery in late:
            order = delivery["order"]
            after = order[order.index(second) + 1 :]
            assert any(index < second for index in after), order


def test_the_tiers_are_counted() -> None:
    cases = Counter(case["tier"] for case in CASES)
    deliveries: Counter[str] = Counter()
    for case in CASES:
        deliveries[case["tier"]] += len(case["deliveries"])
    assert (cases["documented"], cases["retry"], cases["ambiguous"]) == (59, 6, 13)
    assert min(len(case["deliveries"]) for case in CASES) >= 5


def test_a_request_input_stands_for_the_builders_event() -> None:
    for flow in FLOWS.values():
        if flow.request is not None:
            assert requested_of(flow.request.body) == flow.request.event
    phone = tf.blind_transfer(tf.Phone("+12345678901"), client_context="c")
    assert requested_of(phone.body) == phone.event
