"""Values are immutable, compare by value and type, hash, and print readably."""

from __future__ import annotations

import copy
import pickle

import pytest
from flows import FLOWS

import transfer_fsm as tf
from transfer_fsm import Audio, Call, CallState, ResultInfo, Transfer, TransferStatus

FAILED = FLOWS[2].final


def test_a_call_is_its_seven_fields() -> None:
    assert Call._fields == (
        "call_id", "state", "audio", "transfer", "result", "termination_reason", "earlier_failures"
    )  # fmt: skip
    assert FAILED._asdict() == {
        "call_id": FAILED.call_id,
        "state": CallState.ESTABLISHED,
        "audio": Audio.ACTIVE,
        "transfer": FAILED.transfer,
        "result": ResultInfo(500, 1000, "<message>"),
        "termination_reason": None,
        "earlier_failures": (),
    }
    assert Call(**FAILED._asdict()) == FAILED


def test_values_compare_by_value_and_type_and_hash_alike() -> None:
    same = Call(*FAILED._asdict().values())
    assert same == FAILED
    assert hash(same) == hash(FAILED)
    plain = tuple(FAILED)
    assert plain != FAILED
    assert FAILED != plain  # noqa: SIM300 (both sides' __eq__ must refuse)
    assert ResultInfo(500, 1000) != (500, 1000, None)
    assert Transfer(TransferStatus.FAILED) != Transfer(TransferStatus.COMPLETED)
    assert len({FAILED, same, Call(FAILED.call_id)}) == 2


def test_values_cannot_be_changed() -> None:
    with pytest.raises(AttributeError):
        FAILED.state = CallState.TERMINATED  # type: ignore[misc]
    with pytest.raises(AttributeError):
        FAILED.extra = 1  # type: ignore[attr-defined]
    # NamedTuple's own _replace: ValueError up to Python 3.12, TypeError from 3.13.
    with pytest.raises((ValueError, TypeError), match="unexpected field"):
        FAILED._replace(status=TransferStatus.FAILED)  # type: ignore[call-arg]
    assert FAILED._replace(state=CallState.HOLD).state is CallState.HOLD


def test_values_survive_copy_and_pickle() -> None:
    retried = Call("x", CallState.ESTABLISHED, earlier_failures=(ResultInfo(500, 7000),))
    request = tf.TransferRequested("leg", "c", tf.User("u", "U", "t"), 12.5)
    for value in (FAILED, FAILED.transfer, Call("x"), retried, request, tf.TransferAbandoned()):
        assert copy.deepcopy(value) == value
        assert pickle.loads(pickle.dumps(value)) == value


def test_repr_names_every_field() -> None:
    assert repr(Call("x", CallState.TRANSFERRING)) == (
        "Call(call_id='x', state=CallState.TRANSFERRING, audio=None, transfer=None, "
        "result=None, termination_reason=None, earlier_failures=())"
    )
    assert str(CallState.TRANSFER_ACCEPTED) == "transferAccepted"


def test_every_documented_call_state_is_a_member() -> None:
    assert [state.value for state in CallState] == [
        "incoming", "establishing", "ringing", "established", "hold", "transferring",
        "transferAccepted", "redirecting", "terminating", "terminated", "unknownFutureValue",
    ]  # fmt: skip
