"""An independent reference model of the documented transfer flows (used by test_reference_model).

The model is written from the Graph ``call: transfer`` page (the seed), not from
``transfer_fsm.rules``: it reads the raw ``commsNotifications`` bodies itself and
drives two ``transitions`` state machines, one per axis of the call:

* the **call axis**: the call's state and the transfer's status, which move
  together through the documented phases
  ``idle -> requested -> transferring -> accepted -> completed | failed``;
* the **media axis**: ``callMediaState.audio``, which goes
  ``unreported -> inactive -> active`` (a failed transfer gives the audio back).

Both machines refuse anything the page does not document
(``ignore_invalid_triggers=False``): a notification in an undocumented order
raises :class:`~transitions.MachineError`. So the model only walks the
documented orders, and after every step of each of them its view must equal
the reducer's, field by field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from flows import Body
from transitions import Machine, MachineError

import transfer_fsm as tf

# ---------------------------------------------------------------------------
# What a notification says, read from the raw body (not through the parser).
# ---------------------------------------------------------------------------


@attrs.frozen
class Result:
    """Graph's ``resultInfo``."""

    code: int
    subcode: int
    message: str | None = None

    @classmethod
    def read(cls, info: Mapping[str, Any]) -> Result:
        # The beta page spells it ``subCode``, the v1.0 schema ``subcode``.
        subcode = info.get("subcode", info.get("subCode", 0))
        return cls(info["code"], subcode, info.get("message"))


@attrs.frozen
class Notice:
    """One ``commsNotification`` about the call, as the model reads it."""

    change_type: str
    state: str | None
    audio: str | None
    result: Result | None
    termination_reason: str | None
    replaces_context: str | None

    @classmethod
    def read(cls, item: Mapping[str, Any]) -> Notice:
        data = item["resourceData"]
        info = data.get("resultInfo")
        return cls(
            change_type=item["changeType"],
            state=data.get("state"),
            audio=data.get("mediaState", {}).get("audio"),
            result=None if info is None else Result.read(info),
            termination_reason=data.get("terminationReason"),
            replaces_context=data.get("replacesContext"),
        )

    @property
    def transfer_failed(self) -> bool:
        """Back to ``established`` with a failure ``resultInfo`` (500/xxxx)."""
        return self.state == "established" and self.result is not None and self.result.code >= 400

    @property
    def call_transferred(self) -> bool:
        """The call was deleted because it was transferred (AppTransferred or 0/7015)."""
        reason = (self.termination_reason or "").lower()
        subcode = None if self.result is None else self.result.subcode
        return (
            self.change_type == "deleted"
            and self.state == "terminated"
            and (reason == "apptransferred" or subcode == 7015)
        )


def call_trigger(notice: Notice) -> str:
    """The call-axis trigger a notification fires.

    A media notification restates the call state it was sent in (the page:
    "state can be transferring or transferAccepted", "established or
    transferAccepted"), so its trigger names both. A trigger no machine knows
    is an undocumented notification.
    """
    if notice.audio is not None:
        return f"audio_{notice.audio}_while_{notice.state}"
    if notice.call_transferred:
        return "transfer_completed"
    if notice.transfer_failed:
        return "transfer_failed"
    return {"transferring": "transferring", "transferAccepted": "transfer_accepted"}.get(
        str(notice.state), f"undocumented {notice.change_type} {notice.state}"
    )


def media_trigger(notice: Notice) -> str | None:
    """The media-axis trigger a notification fires, if any."""
    if notice.state == "terminated":
        return "call_ended"
    return None if notice.audio is None else f"audio_{notice.audio}"


# ---------------------------------------------------------------------------
# The two machines: every documented move, and nothing else.
# ---------------------------------------------------------------------------

# Each phase of the call axis: (Graph's call state, the transfer's status).
CALL_PHASES: dict[str, tuple[str | None, str | None]] = {
    "idle": (None, None),
    "requested": (None, "requested"),
    "transferring": ("transferring", "transferring"),
    "accepted": ("transferAccepted", "accepted"),
    "completed": ("terminated", "completed"),
    "failed": ("established", "failed"),
}

CALL_MOVES: list[dict[str, Any]] = [
    # The bot POSTs /transfer (202 Accepted).
    {"trigger": "transfer_requested", "source": "idle", "dest": "requested"},
    # Notification - transferring.
    {"trigger": "transferring", "source": "requested", "dest": "transferring"},
    # Notification - transfer accepted (before or after audio inactive).
    {"trigger": "transfer_accepted", "source": "transferring", "dest": "accepted"},
    # Notification - terminated (call transferred).
    {
        "trigger": "transfer_completed",
        "source": "accepted",
        "dest": "completed",
        "after": "record_termination",
    },
    # Notification - established (call transfer failed).
    {
        "trigger": "transfer_failed",
        "source": "accepted",
        "dest": "failed",
        "after": "record_failure",
    },
    # Media notifications, in the call state they document; the call axis stays.
    {"trigger": "audio_inactive_while_transferring", "source": "transferring", "dest": None},
    {"trigger": "audio_inactive_while_transferAccepted", "source": "accepted", "dest": None},
    {"trigger": "audio_active_while_transferAccepted", "source": "accepted", "dest": None},
    {"trigger": "audio_active_while_established", "source": "failed", "dest": None},
]

# Each state of the media axis: Graph's ``callMediaState.audio``.
MEDIA_STATES: dict[str, str | None] = {
    "unreported": None,
    "inactive": "inactive",
    "active": "active",
}

MEDIA_MOVES: list[dict[str, Any]] = [
    # Notification - media state audio inactive: the transfer takes the bot's audio.
    {"trigger": "audio_inactive", "source": "unreported", "dest": "inactive"},
    # Notification - media state audio active (call transfer failed): it comes back.
    {"trigger": "audio_active", "source": "inactive", "dest": "active"},
    # Terminated: the call has no media any more (the library's documented rule).
    {"trigger": "call_ended", "source": "inactive", "dest": "inactive"},
]


def strict_machine(model: object, states: list[str], moves: list[dict[str, Any]]) -> Machine:
    """A machine that knows only ``moves`` and raises MachineError for anything else."""
    return Machine(
        model=model,
        states=states,
        transitions=moves,
        initial=states[0],
        auto_transitions=False,
        ignore_invalid_triggers=False,
    )


def refuse_undocumented(machine: Machine, model: object, trigger: str) -> None:
    """Raise MachineError unless ``trigger`` is a documented move from the model's state."""
    state = machine.get_model_state(model).name
    if trigger not in machine.get_triggers(state):
        raise MachineError(f"undocumented: {trigger!r} in state {state!r}")


@attrs.define(slots=False)
class CallAxis:
    """The call's state and the transfer's status, with what the notifications carried."""

    transfer_result: Result | None = None
    replaces_context: str | None = None
    result: Result | None = None
    termination_reason: str | None = None
    machine: Machine = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        self.machine = strict_machine(self, list(CALL_PHASES), CALL_MOVES)

    @property
    def phase(self) -> str:
        return self.machine.get_model_state(self).name

    def record_termination(self, notice: Notice) -> None:
        self.transfer_result = self.result = notice.result
        self.termination_reason = notice.termination_reason

    def record_failure(self, notice: Notice) -> None:
        self.transfer_result = self.result = notice.result
        self.replaces_context = notice.replaces_context


@attrs.define(slots=False)
class MediaAxis:
    """The call's audio."""

    machine: Machine = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        self.machine = strict_machine(self, list(MEDIA_STATES), MEDIA_MOVES)

    @property
    def audio(self) -> str | None:
        return MEDIA_STATES[self.machine.get_model_state(self).name]


# ---------------------------------------------------------------------------
# The observable view, and the model that produces it.
# ---------------------------------------------------------------------------


@attrs.frozen
class View:
    """Everything a bot observes of the call, in Graph's and the library's words."""

    state: str | None
    audio: str | None
    transfer_status: str | None
    transfer_result: Result | None
    replaces_context: str | None
    result: Result | None
    termination_reason: str | None

    @classmethod
    def of(cls, call: tf.Call) -> View:
        """The reducer's snapshot, in the model's terms."""
        transfer = call.transfer
        return cls(
            state=None if call.state is None else call.state.value,
            audio=None if call.audio is None else call.audio.value,
            transfer_status=None if transfer is None else transfer.status.value,
            transfer_result=None if transfer is None else result_of(transfer.result),
            replaces_context=None if transfer is None else transfer.replaces_context,
            result=result_of(call.result),
            termination_reason=call.termination_reason,
        )


def result_of(info: tf.ResultInfo | None) -> Result | None:
    return None if info is None else Result(info.code, info.subcode, info.message)


@attrs.define
class ReferenceCall:
    """The reference model of one call: both axes, driven by raw notification bodies."""

    call: CallAxis = attrs.Factory(CallAxis)
    media: MediaAxis = attrs.Factory(MediaAxis)

    def request_transfer(self) -> None:
        self.call.machine.events["transfer_requested"].trigger(self.call)

    def notify(self, body: Body) -> list[str]:
        """Apply every notification of a callback body; return the call triggers fired.

        Both axes' moves are checked before either fires, so a refused
        notification leaves the whole model as it was.
        """
        fired = []
        for item in body["value"]:
            notice = Notice.read(item)
            moves: list[tuple[Machine, object, str]] = [
                (self.call.machine, self.call, call_trigger(notice))
            ]
            if (media := media_trigger(notice)) is not None:
                moves.append((self.media.machine, self.media, media))
            for machine, axis, trigger in moves:
                refuse_undocumented(machine, axis, trigger)
            for machine, axis, trigger in moves:
                machine.events[trigger].trigger(axis, notice=notice)
            fired.append(moves[0][2])
        return fired

    def view(self) -> View:
        state, status = CALL_PHASES[self.call.phase]
        return View(
            state=state,
            audio=self.media.audio,
            transfer_status=status,
            transfer_result=self.call.transfer_result,
            replaces_context=self.call.replaces_context,
            result=self.call.result,
            termination_reason=self.call.termination_reason,
        )


def disagreements(where: str, model: View, reducer: View) -> list[str]:
    """One line per field of the view on which the model and the reducer differ."""
    return [
        f"{where}: {field.name}: model {getattr(model, field.name)!r}, "
        f"reducer {getattr(reducer, field.name)!r}"
        for field in attrs.fields(View)
        if getattr(model, field.name) != getattr(reducer, field.name)
    ]
