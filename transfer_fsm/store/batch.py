"""What a batch of applies in one transaction reports when some of its items fail."""

from __future__ import annotations

from ..report import Step


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
