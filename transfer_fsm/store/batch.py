"""What a batch of applies in one transaction reports when some of its items fail."""

from __future__ import annotations

from ..report import Step
from ..snapshot import SnapshotError
from .core import BodyError, IncompleteBodyError


class BatchError(Exception):
    """Some items of an ``apply_many`` batch were refused; every other item was applied.

    An item is refused, having written nothing, when its call's stored snapshot
    is corrupt (:class:`~transfer_fsm.SnapshotError`), its event is about
    another call (``WrongCallError``), or its call cannot be stepped or stored
    for another reason of its own; the batch's other items committed together.
    ``results`` is parallel to the items: each item's ``Step``, or the
    exception that refused it. ``steps`` are the applied items' steps, in
    order (act on their milestones), ``errors`` the refusals, in order.
    """

    def __init__(self, results: list[Step | Exception]) -> None:
        self.results = results
        self.steps = [result for result in results if isinstance(result, Step)]
        self.errors = [result for result in results if not isinstance(result, Step)]
        super().__init__(
            f"{len(self.errors)} of {len(results)} item(s) refused, the others applied;"
            f" first: {self.errors[0]!r}"
        )


def body_steps(call_ids: list[str], results: list[Step | Exception]) -> list[Step]:
    """A body's steps from its batch's results (``call_ids`` parallel to them):
    :class:`BodyError` for its calls whose snapshot is corrupt (one error per call,
    the first), :class:`IncompleteBodyError` for any other refusal."""
    steps: list[Step] = []
    failed: dict[str, SnapshotError] = {}
    other: Exception | None = None
    for call_id, result in zip(call_ids, results, strict=True):
        if isinstance(result, Step):
            steps.append(result)
        elif isinstance(result, SnapshotError):
            failed.setdefault(call_id, result)
        elif other is None:
            other = result
    if other is not None:
        if not steps and not failed:
            raise other
        raise IncompleteBodyError(steps, list(failed.values()), other) from other
    if failed:
        raise BodyError(list(failed.values()), steps)
    return steps
