"""``python -m transfer_fsm``: the ``transfer-fsm`` command, see :mod:`transfer_fsm.cli`."""

from .cli import run

raise SystemExit(run(prog="python -m transfer_fsm"))
