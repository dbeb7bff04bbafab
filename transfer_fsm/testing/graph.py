"""A fake of Graph's side of a call: the callbacks it sends in answer to a transfer request."""

from __future__ import annotations

from random import Random
from typing import Literal

from ..request import TransferRequest
from .flows import SEED, SEED_CALL_ID, Body, _about, check_call_id

Outcome = Literal["completed", "failed"]

_ORDER = ("transferring", "audio-inactive", "transfer-accepted")
_ENDS: dict[str, tuple[str, ...]] = {
    "completed": ("terminated",),
    "failed": ("established-failed", "audio-active"),
}


class FakeGraph:
    """Graph's side of one call, ``call_id``: what it POSTs back to the bot.

    :meth:`transfer` answers a request with the seed page's bodies for its
    kind (consultative when the request names ``replacesCallId``, direct
    otherwise; a PSTN target notifies as a user does), about ``call_id``. A
    completed transfer ends the call: a later :meth:`transfer` raises
    ``ValueError``, as Graph answers a request on a call it has removed with
    an error. A failed one leaves it up, so the bot may try again (Graph
    reports a retry's failure with the same ``resultInfo``, which the library
    reads as a late copy of the first: see ``docs/model.md``, ambiguity 11).
    """

    def __init__(self, call_id: str) -> None:
        self.call_id = check_call_id(call_id)
        self.ended = False
        """Whether a completed transfer has removed the call."""

    def transfer(
        self, request: TransferRequest, outcome: Outcome, *, rng: Random | None = None
    ) -> list[Body]:
        """The callback bodies Graph sends for ``request`` ending in ``outcome``.

        ``outcome`` is ``"completed"`` or ``"failed"``. The bodies come in the
        seed page's order (audio inactive before the transfer is accepted;
        after a failure, ``established`` before audio comes back); with
        ``rng``, shuffled by it, as deliveries may arrive. Each call returns
        new bodies.
        """
        if not isinstance(request, TransferRequest):
            raise TypeError(f"request: a TransferRequest, got {type(request).__name__}")
        if outcome not in _ENDS:
            raise ValueError(f"outcome: 'completed' or 'failed', got {outcome!r}")
        if self.ended:
            raise ValueError(
                f"call {self.call_id}: the call has ended, there is nothing to transfer"
            )
        kind = "direct" if request.event.replaces_call_id is None else "consultative"
        names = (*_ORDER, *_ENDS[outcome])
        bodies: list[Body] = [
            _about(SEED[f"{kind}-{name}"], SEED_CALL_ID, self.call_id) for name in names
        ]
        if rng is not None:
            rng.shuffle(bodies)
        self.ended = outcome == "completed"
        return bodies
