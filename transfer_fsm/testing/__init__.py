"""A test kit for bots built on Graph call-transfer notifications (extra ``testing``).

- :func:`documented_flows`: every documented transfer flow as callback bodies
  about your call id, with the view it must end in;
- :func:`deliveries`: a hypothesis strategy of deliveries of one flow
  (shuffled, duplicated, late);
- :class:`FakeGraph`: the callbacks Graph sends in answer to a transfer request;
- :func:`assert_conforms`: runs your handler over generated deliveries of every
  documented flow and fails with the flow and a minimal failing delivery.

The library's own tests use this kit. It needs ``hypothesis``
(``pip install 'transfer-fsm[testing]'``); the core does not.
"""

from .conform import Handler, assert_conforms, deliveries
from .flows import Body, Flow, documented_flows
from .graph import FakeGraph

__all__ = [
    "Body",
    "FakeGraph",
    "Flow",
    "Handler",
    "assert_conforms",
    "deliveries",
    "documented_flows",
]
