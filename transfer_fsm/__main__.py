"""``python -m transfer_fsm``: see :mod:`transfer_fsm.cli`."""

from .cli import main

raise SystemExit(main())
