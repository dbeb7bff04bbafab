"""A conform harness around the reference itself: every input through ``transfer_fsm.step``.

    transfer-fsm conform -- python examples/harness/reference.py

Each line on standard input is one delivery (``docs/conformance.md``): the
call before it (a snapshot, or null) and the inputs in delivery order. Each
answer is the whole snapshot as the view, with every milestone fired and the
attempt it belongs to. It exits 0 on every case: copy it to wrap a bot of your
own (replace ``apply`` with your bot's handling).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import transfer_fsm as tf


def events(item: dict[str, Any], call_id: str) -> list[tf.Event]:
    """What the bot reduces for one input (see the kinds in docs/conformance.md)."""
    kind = item["kind"]
    if kind == "notification":
        return list(tf.parse_notifications(item["body"]))
    if kind == "requested":
        invitation = item["request"]["transferTarget"]
        identity = invitation.get("identity", {})
        target: tf.User | tf.Phone | None = None
        if "phone" in identity:
            target = tf.Phone(identity["phone"]["id"])
        elif "user" in identity:
            user = identity["user"]
            target = tf.User(user["id"], user.get("displayName"), user.get("tenantId"))
        context = item["request"].get("clientContext")
        return [tf.TransferRequested(invitation.get("replacesCallId"), context, target)]
    if kind == "rejected":
        result = item["result"]
        return [
            tf.TransferRejected(tf.ResultInfo(result["code"], result["subcode"], result["message"]))
        ]
    if kind == "abandoned":
        return [tf.TransferAbandoned(attempt=item["attempt"])]
    if item["status"] == 404:  # kind "get"
        return [tf.call_gone(call_id)]
    return [tf.parse_call_resource(item["body"])]


def apply(delivery: dict[str, Any]) -> dict[str, Any]:
    """The answer to one delivery: the view after every input, and the milestones fired."""
    call_id = delivery["call_id"]
    start = delivery["start"]
    call = tf.Call(call_id) if start is None else tf.Call.from_dict(start)
    fired = []
    for item in delivery["inputs"]:
        for event in events(item, call_id):
            done = tf.step(call, event)
            call = done.call
            attempt = 0 if call.transfer is None else call.transfer.attempt
            fired += [{"milestone": m.value, "attempt": attempt} for m in done.milestones]
    view = call.to_dict()
    del view["version"]  # the snapshot's version is not a field of the view
    return {
        "case": delivery["case"],
        "delivery": delivery["delivery"],
        "view": view,
        "milestones": fired,
    }


def main() -> None:
    """Answer each delivery line with one line, flushed, until standard input ends."""
    for line in sys.stdin:
        sys.stdout.write(json.dumps(apply(json.loads(line))) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
