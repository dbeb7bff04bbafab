"""transfer_fsm: reconcile Microsoft Graph call-transfer notifications, in any order.

A pure, dependency-free reducer: ``call = reduce(call, event)``. See
``docs/model.md`` for the theory of operation and its guarantees.
"""

from .events import (
    CallNotification,
    Event,
    Notification,
    OperationNotification,
    ResourceNotification,
)
from .parse import NotificationError, parse_notifications
from .reducer import WrongCallError, reduce
from .report import Step, step
from .values import (
    Audio,
    Call,
    CallState,
    ChangeType,
    Milestone,
    Outcome,
    ResultInfo,
    Transfer,
    TransferRejected,
    TransferRequested,
    TransferStatus,
)

__version__ = "0.1.0"

__all__ = [
    "Audio",
    "Call",
    "CallNotification",
    "CallState",
    "ChangeType",
    "Event",
    "Milestone",
    "Notification",
    "NotificationError",
    "OperationNotification",
    "Outcome",
    "ResourceNotification",
    "ResultInfo",
    "Step",
    "Transfer",
    "TransferRejected",
    "TransferRequested",
    "TransferStatus",
    "WrongCallError",
    "parse_notifications",
    "reduce",
    "step",
]
