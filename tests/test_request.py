"""The POST /transfer body builder, the precondition query and the replaced call's fate.

The builder's JSON must equal every documented request body field for field:
the seed page's two, the v1.0 page's five and the legacy beta consultative one
(``transfer_fsm/testing/payloads/graph-docs.json`` names its sources).
"""

from __future__ import annotations

import json
from itertools import permutations
from typing import Any

import pytest
from flows import CALL_ID, DOCS, FLOWS, SEED, replay
from hypothesis import event, given
from hypothesis import strategies as st

import transfer_fsm as tf
from transfer_fsm import (
    Audio,
    Blocker,
    Call,
    CallState,
    LegFate,
    Phone,
    ResultInfo,
    Transfer,
    Transferee,
    TransferRequested,
    TransferStatus,
    User,
)

HEIDI = "550fae72-d251-43ec-868c-373732c2704f"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
LEG = "e5d39592-99bd-4db8-bca8-30fb894ec51d"
CONTEXT = "9e90d1c1-f61e-43e7-9f75-d420159aae08"
PSTN = Phone("+12345678901")

DOCUMENTED: dict[str, tuple[tf.TransferRequest, Any]] = {
    "v1.0 example 1, blind": (
        tf.blind_transfer(User(HEIDI, "Heidi Steen")),
        DOCS["v1-request-1-blind"],
    ),
    "v1.0 example 2, consultative": (
        tf.consultative_transfer(User(HEIDI, "Heidi Steen"), LEG, annotate=True),
        DOCS["v1-request-2-consultative"],
    ),
    "v1.0 example 3, PSTN": (
        tf.blind_transfer(
            PSTN, client_context=CONTEXT, language_id="languageId-value", region="region-value"
        ),
        DOCS["v1-request-3-pstn"],
    ),
    "v1.0 example 4, consultative PSTN": (
        tf.consultative_transfer(
            PSTN, LEG, client_context=CONTEXT, language_id="en-us", region="amer", annotate=True
        ),
        DOCS["v1-request-4-consultative-pstn"],
    ),
    "v1.0 example 5, group call": (
        tf.blind_transfer(
            User(HEIDI, "Heidi Steen"),
            transferee=Transferee(
                "909c6581-5130-43e9-88f3-fcb3582cde37",
                User("751f6800-3180-414d-bd94-333364659951", tenant_id=TENANT),
            ),
        ),
        DOCS["v1-request-5-group"],
    ),
    "seed, transfer directly (with the page's replacesCallId placeholder)": (
        tf.consultative_transfer(
            User(HEIDI, "Heidi Steen", TENANT),
            "replacesCallId-value",
            client_context="clientContext-value",
            language_id="languageId-value",
            region="region-value",
        ),
        SEED["request-direct"],
    ),
    "seed, consultative": (
        tf.consultative_transfer(
            User(HEIDI, "Heidi Steen", TENANT),
            LEG,
            client_context="<clientContext-value>",
            language_id="en-us",
            region="amer",
            annotate=True,
        ),
        SEED["request-consultative"],
    ),
    "legacy beta, consultative": (
        tf.consultative_transfer(
            User(HEIDI, "Heidi Steen", TENANT),
            LEG,
            client_context="d45324c1-fcb5-430a-902c-f20af696537c",
            language_id="en-US",
            region="westus",
        ),
        DOCS["legacy-request-consultative"],
    ),
}


@pytest.mark.parametrize("name", DOCUMENTED)
def test_the_built_body_equals_the_documented_body_field_for_field(name: str) -> None:
    request, documented = DOCUMENTED[name]
    assert request.body == documented
    assert json.loads(request.json()) == documented


def target_of(identity: dict[str, Any]) -> User | Phone:
    """The whole target an ``identity`` object names, as the event keeps it."""
    if "user" in identity:
        user = identity["user"]
        return User(user["id"], user.get("displayName"), user.get("tenantId"))
    return Phone(identity["phone"]["id"])


@pytest.mark.parametrize("name", DOCUMENTED)
def test_the_event_says_what_the_body_says(name: str) -> None:
    request, _ = DOCUMENTED[name]
    target = request.body["transferTarget"]
    assert request.event == TransferRequested(
        target.get("replacesCallId"),
        request.body.get("clientContext"),
        target_of(target["identity"]),
    )


def test_the_event_keeps_the_whole_target_and_the_callers_time() -> None:
    heidi = User(HEIDI, "Heidi Steen", "72f988bf-86f1-41af-91ab-2d7cd011db47")
    request = tf.consultative_transfer(heidi, LEG, client_context="ctx-1", at=1_700_000_000.5)
    assert request.event == TransferRequested(LEG, "ctx-1", heidi, 1_700_000_000.5)
    target, leg = request.event.target, request.event.replaces_call_id
    assert target is not None
    assert leg is not None
    retry = tf.consultative_transfer(target, leg, client_context="ctx-2")
    assert retry.body["transferTarget"] == request.body["transferTarget"]
    assert tf.blind_transfer(Phone("+12345678901")).event.target == Phone("+12345678901")


@pytest.mark.parametrize("at", [float("nan"), float("inf"), True, "12", -float("inf")])
def test_a_time_that_is_no_finite_number_is_refused(at: Any) -> None:
    with pytest.raises(ValueError, match="at: a finite number"):
        tf.blind_transfer(User(HEIDI), at=at)


def test_the_event_opens_the_attempt_the_notifications_then_advance() -> None:
    request = tf.consultative_transfer(User(HEIDI), LEG, client_context="ctx-1")
    call = tf.reduce(Call(CALL_ID, CallState.ESTABLISHED, Audio.ACTIVE), request.event)
    assert call == Call(
        CALL_ID,
        CallState.ESTABLISHED,
        Audio.ACTIVE,
        Transfer(TransferStatus.REQUESTED, request=TransferRequested(LEG, "ctx-1", User(HEIDI))),
    )


INVALID: list[tuple[str, Any, str]] = [
    ("empty user id", lambda: tf.blind_transfer(User("")), "target.id"),
    ("blank user id", lambda: tf.blind_transfer(User("  ")), "target.id"),
    ("empty tenant", lambda: tf.blind_transfer(User(HEIDI, tenant_id="")), "target.tenant_id"),
    ("no plus", lambda: tf.blind_transfer(Phone("12345678901")), "E.164"),
    ("leading zero", lambda: tf.blind_transfer(Phone("+0123456")), "E.164"),
    ("too long", lambda: tf.blind_transfer(Phone("+1234567890123456")), "E.164"),
    ("spaces", lambda: tf.blind_transfer(Phone("+1 234 567 8901")), "E.164"),
    ("letters", lambda: tf.blind_transfer(Phone("+1555CALLNOW")), "E.164"),
    (
        "context of 257 characters",
        lambda: tf.blind_transfer(User(HEIDI), client_context="x" * 257),
        "at most 256",
    ),
    ("empty context", lambda: tf.blind_transfer(User(HEIDI), client_context=""), "client_context"),
    (
        "consultative without a call id",
        lambda: tf.consultative_transfer(User(HEIDI), None),  # type: ignore[arg-type]
        "replaces_call_id",
    ),
    (
        "consultative with an empty call id",
        lambda: tf.consultative_transfer(User(HEIDI), ""),
        "replaces_call_id",
    ),
    (
        "transferee without a participant id",
        lambda: tf.blind_transfer(User(HEIDI), transferee=Transferee("", User("x"))),
        "transferee.participant_id",
    ),
    (
        "transferee with a bad number",
        lambda: tf.blind_transfer(User(HEIDI), transferee=Transferee("p", Phone("555"))),
        "transferee.identity",
    ),
    ("a bare string target", lambda: tf.blind_transfer(HEIDI), "User or a Phone"),  # type: ignore[arg-type]
    ("an empty region", lambda: tf.blind_transfer(User(HEIDI), region=""), "region"),
    (
        "129 emoji: 258 UTF-16 units",
        lambda: tf.blind_transfer(User(HEIDI), client_context="\U0001f4de" * 129),
        "got 258",
    ),
    (
        "a lone surrogate in the context",
        lambda: tf.blind_transfer(User(HEIDI), client_context="\ud800"),
        "client_context",
    ),
    (
        "a lone surrogate in a display name",
        lambda: tf.blind_transfer(User(HEIDI, "\udfff")),
        "target.display_name",
    ),
]


@pytest.mark.parametrize(("name", "build", "names"), INVALID, ids=[row[0] for row in INVALID])
def test_invalid_input_is_a_clear_value_error(name: str, build: Any, names: str) -> None:
    with pytest.raises(ValueError, match=names.replace(".", r"\.")):
        build()


def test_the_limits_themselves_are_accepted() -> None:
    context = "x" * tf.MAX_CLIENT_CONTEXT
    assert tf.blind_transfer(Phone("+12"), client_context=context).body == {
        "transferTarget": {
            "endpointType": "default",
            "identity": {"phone": {"@odata.type": "#microsoft.graph.identity", "id": "+12"}},
        },
        "clientContext": context,
    }
    emoji = "\U0001f4de" * (tf.MAX_CLIENT_CONTEXT // 2)
    assert tf.blind_transfer(User(HEIDI), client_context=emoji).event.client_context == emoji
    longest = Phone("+123456789012345")
    assert tf.blind_transfer(longest, endpoint_type=None).event == TransferRequested(
        None, None, longest
    )


def test_each_build_returns_a_fresh_body() -> None:
    first = tf.blind_transfer(User(HEIDI))
    first.body["transferTarget"]["endpointType"] = "voicemail"
    assert tf.blind_transfer(User(HEIDI, "Heidi Steen")).body == DOCS["v1-request-1-blind"]


# The precondition query -------------------------------------------------------

ESTABLISHED = Call(CALL_ID, CallState.ESTABLISHED, Audio.ACTIVE)


def _attempt(status: TransferStatus, state: CallState = CallState.ESTABLISHED) -> Call:
    return Call(CALL_ID, state, Audio.ACTIVE, Transfer(status))


BLOCKERS: list[tuple[str, Call, tuple[Blocker, ...]]] = [
    ("nothing reported yet", Call(CALL_ID), (Blocker.NOT_ESTABLISHED,)),
    ("incoming", Call(CALL_ID, CallState.INCOMING), (Blocker.NOT_ESTABLISHED,)),
    ("establishing", Call(CALL_ID, CallState.ESTABLISHING), (Blocker.NOT_ESTABLISHED,)),
    ("established", ESTABLISHED, ()),
    ("on hold", Call(CALL_ID, CallState.HOLD, Audio.ACTIVE), ()),
    ("redirecting", Call(CALL_ID, CallState.REDIRECTING), (Blocker.REDIRECTING,)),
    ("terminating", Call(CALL_ID, CallState.TERMINATING), (Blocker.ENDING,)),
    ("terminated", Call(CALL_ID, CallState.TERMINATED, Audio.INACTIVE), (Blocker.TERMINATED,)),
    ("requested", _attempt(TransferStatus.REQUESTED), (Blocker.TRANSFER_IN_PROGRESS,)),
    (
        "transferring",
        _attempt(TransferStatus.TRANSFERRING, CallState.TRANSFERRING),
        (Blocker.TRANSFER_IN_PROGRESS,),
    ),
    (
        "accepted",
        _attempt(TransferStatus.ACCEPTED, CallState.TRANSFER_ACCEPTED),
        (Blocker.TRANSFER_IN_PROGRESS,),
    ),
    ("after a failed attempt", _attempt(TransferStatus.FAILED), ()),
    (
        "a failure reported while the call still says transferAccepted",
        _attempt(TransferStatus.FAILED, CallState.TRANSFER_ACCEPTED),
        (Blocker.TRANSFER_IN_PROGRESS,),
    ),
    (
        "transferred",
        _attempt(TransferStatus.COMPLETED, CallState.TERMINATED),
        (Blocker.TERMINATED, Blocker.TRANSFERRED),
    ),
]


@pytest.mark.parametrize(("name", "call", "blockers"), BLOCKERS, ids=[row[0] for row in BLOCKERS])
def test_what_blocks_a_transfer(name: str, call: Call, blockers: tuple[Blocker, ...]) -> None:
    assert tf.transfer_blockers(call) == blockers
    assert tf.can_transfer(call) is (blockers == ())


def test_a_bot_may_transfer_again_once_the_first_attempt_failed() -> None:
    events = [tf.TransferRequested(), *tf.parse_notifications(SEED["direct-transferring"])]
    during = replay(ESTABLISHED, *events)
    assert tf.transfer_blockers(during) == (Blocker.TRANSFER_IN_PROGRESS,)
    failed = replay(during, *tf.parse_notifications(SEED["direct-established-failed"]))
    assert tf.transfer_blockers(failed) == ()


# The call a consultative transfer replaces ----------------------------------------

PRIMARY = tf.reduce(ESTABLISHED, tf.consultative_transfer(User(HEIDI), LEG).event)
CONSULTATION = Call(LEG, CallState.ESTABLISHED, Audio.ACTIVE)
LEG_ENDED = Call(LEG, CallState.TERMINATED, Audio.INACTIVE, None, ResultInfo(200, 5001))


def _primary_after(*names: str) -> Call:
    return replay(PRIMARY, *(e for name in names for e in tf.parse_notifications(SEED[name])))


@pytest.mark.parametrize(
    ("primary", "fate"),
    [
        (PRIMARY, LegFate.PENDING),
        (_primary_after("consultative-transferring"), LegFate.PENDING),
        (_primary_after("consultative-transfer-accepted"), LegFate.PENDING),
        (_primary_after("consultative-terminated"), LegFate.REPLACED),
        (_primary_after("consultative-established-failed"), LegFate.KEPT),
        (ESTABLISHED, LegFate.UNRELATED),
        (tf.reduce(ESTABLISHED, tf.blind_transfer(User(HEIDI)).event), LegFate.UNRELATED),
    ],
    ids=["requested", "transferring", "accepted", "completed", "failed", "none", "blind"],
)
def test_the_consultation_call_fate_follows_the_primary_attempt(
    primary: Call, fate: LegFate
) -> None:
    assert tf.consultation_fate(primary, CONSULTATION) is fate
    assert tf.consultation_fate(primary, LEG_ENDED) is fate
    assert tf.consultation_fate(primary, LEG) is fate


def test_the_consultation_call_ending_first_is_explained_once_the_transfer_completes() -> None:
    """Graph drops the consultation call and says nothing about why on it; the two
    calls' notifications race, so the bot asks again when either view changes."""
    primary = _primary_after("consultative-transferring", "consultative-transfer-accepted")
    assert tf.consultation_fate(primary, LEG_ENDED) is LegFate.PENDING
    done = _primary_after("consultative-terminated")
    assert tf.consultation_fate(done, LEG_ENDED) is LegFate.REPLACED
    assert tf.consultation_fate(done, Call("another-call")) is LegFate.UNRELATED


# Laws ----------------------------------------------------------------------------

ANY_TEXT = st.characters(exclude_categories=())  # lone surrogates included
TEXT = st.one_of(
    st.none(), st.text(ANY_TEXT, max_size=12), st.sampled_from(["", " ", "x" * 257, "id-1"])
)
NUMBERS = st.one_of(
    st.from_regex(r"\+[1-9][0-9]{1,14}", fullmatch=True), st.text(ANY_TEXT, max_size=18)
)
TARGETS = st.one_of(
    st.builds(User, st.text(ANY_TEXT, max_size=8), TEXT, TEXT), st.builds(Phone, NUMBERS)
)


@given(
    target=TARGETS,
    replaces=TEXT,
    context=st.one_of(TEXT, st.text(ANY_TEXT, min_size=120, max_size=260)),
    transferee=st.one_of(st.none(), st.builds(Transferee, st.text(ANY_TEXT, max_size=4), TARGETS)),
    language=TEXT,
    annotate=st.booleans(),
)
def test_the_builder_is_total_and_body_and_event_always_agree(
    target: User | Phone,
    replaces: str | None,
    context: str | None,
    transferee: Transferee | None,
    language: str | None,
    annotate: bool,
) -> None:
    """Any input gives a body whose event says the same, or a ValueError; nothing else."""
    try:
        if replaces is None:
            request = tf.blind_transfer(
                target,
                transferee=transferee,
                client_context=context,
                language_id=language,
                annotate=annotate,
            )
        else:
            request = tf.consultative_transfer(
                target,
                replaces,
                transferee=transferee,
                client_context=context,
                language_id=language,
                annotate=annotate,
            )
    except ValueError:
        event("refused")
        return
    event("built, consultative" if replaces is not None else "built, blind")
    body = json.loads(request.json())
    assert body == request.body
    identity = body["transferTarget"]["identity"]
    who = identity["user"]["id"] if "user" in identity else identity["phone"]["id"]
    assert request.event == TransferRequested(
        body["transferTarget"].get("replacesCallId"), body.get("clientContext"), target
    )
    assert target_of(identity) == target
    assert len(body.get("clientContext", "").encode("utf-16-le")) <= 2 * tf.MAX_CLIENT_CONTEXT
    assert all(value != "" for value in (replaces, context, language, who))


CONSULTATIVE_FLOWS = [flow for flow in FLOWS if flow.name.startswith("consultative")]


@pytest.mark.parametrize("flow", CONSULTATIVE_FLOWS, ids=lambda flow: flow.name)
def test_the_consultation_fate_does_not_depend_on_delivery_order(flow: Any) -> None:
    fates = {
        tf.consultation_fate(replay(PRIMARY, *order), CONSULTATION)
        for order in permutations(flow.events())
    }
    completed = flow.final.transfer.status is TransferStatus.COMPLETED
    assert fates == {LegFate.REPLACED if completed else LegFate.KEPT}


def test_the_body_is_sent_as_utf_8_not_escaped_to_ascii() -> None:
    built = tf.blind_transfer(tf.User("u-1", "Zoë Ångström"))
    assert (
        built.json()
        == (
            '{"transferTarget":{"endpointType":"default","identity":'
            '{"user":{"id":"u-1","displayName":"Zoë Ångström"}}}}'
        ).encode()
    )


def test_a_transferee_that_is_not_one_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"^transferee: expected a Transferee, got \{'id': 'p'\}$"):
        tf.blind_transfer(tf.User("u-1"), transferee={"id": "p"})  # type: ignore[arg-type]
