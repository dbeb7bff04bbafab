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
from .parse import NotificationError, call_gone, parse_call_resource, parse_notifications
from .reducer import WrongCallError, reduce
from .report import Step, step
from .request import (
    MAX_CLIENT_CONTEXT,
    Transferee,
    TransferRequest,
    blind_transfer,
    can_transfer,
    consultation_fate,
    consultative_transfer,
    transfer_blockers,
    transfer_overdue,
)
from .snapshot import SnapshotError
from .values import (
    Audio,
    Blocker,
    Call,
    CallState,
    ChangeType,
    LegFate,
    Milestone,
    Outcome,
    Phone,
    ResultInfo,
    Transfer,
    TransferAbandoned,
    TransferRejected,
    TransferRequested,
    TransferStatus,
    User,
)

__version__ = "0.1.0"

__all__ = [
    "Audio",
    "Blocker",
    "Call",
    "CallNotification",
    "CallState",
    "ChangeType",
    "Event",
    "LegFate",
    "MAX_CLIENT_CONTEXT",
    "Milestone",
    "Notification",
    "NotificationError",
    "OperationNotification",
    "Outcome",
    "Phone",
    "ResourceNotification",
    "ResultInfo",
    "SnapshotError",
    "Step",
    "Transfer",
    "TransferAbandoned",
    "TransferRejected",
    "TransferRequest",
    "TransferRequested",
    "TransferStatus",
    "Transferee",
    "User",
    "WrongCallError",
    "blind_transfer",
    "call_gone",
    "can_transfer",
    "consultation_fate",
    "consultative_transfer",
    "parse_call_resource",
    "parse_notifications",
    "reduce",
    "step",
    "transfer_blockers",
    "transfer_overdue",
]
