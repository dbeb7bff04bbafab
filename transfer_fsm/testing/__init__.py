"""A test kit for bots built on Graph call-transfer notifications (extra ``testing``).

- :func:`documented_flows`: every documented transfer flow as callback bodies
  about your call id, with the view it must end in;
- :func:`deliveries`: a hypothesis strategy of deliveries of one flow
  (shuffled, duplicated, late), or of one multi-attempt history;
- :class:`FakeGraph`: the callbacks Graph sends in answer to a transfer request;
- :func:`assert_conforms`: runs your handler over generated deliveries of every
  documented flow and fails with the flow and a minimal failing delivery;
- the conformance vectors (:mod:`.vectors`, :mod:`.cases`) and the runner of
  ``transfer-fsm conform`` (:mod:`.runner`), for bots in any language.

The library's own tests use this kit. The strategies and ``assert_conforms``
need ``hypothesis`` (``pip install 'transfer-fsm[testing]'``), imported only
when first used; the flows, the vectors and the runner need nothing beyond
the standard library, and the core needs nothing at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .flows import Body, Flow, documented_flows
from .graph import FakeGraph

if TYPE_CHECKING:
    from .conform import Delivered, Handled, Handler, assert_conforms, deliveries, histories

__all__ = [
    "Body",
    "Delivered",
    "FakeGraph",
    "Flow",
    "Handled",
    "Handler",
    "assert_conforms",
    "deliveries",
    "documented_flows",
    "histories",
]

_NEED_HYPOTHESIS = frozenset(
    {"Delivered", "Handled", "Handler", "assert_conforms", "deliveries", "histories"}
)


def __getattr__(name: str) -> Any:
    """The names that need hypothesis, imported when first asked for."""
    if name in _NEED_HYPOTHESIS:
        from . import conform

        return getattr(conform, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
