"""One journal consumer process of the journal tests: claim, print, acknowledge.

    python tests/journal_consumer.py PATH CONSUMER IDLE STOP_FILE [--hold]

Opens ``SQLiteStore(PATH)`` and claims up to 7 entries at a time as
``CONSUMER`` with ``idle`` seconds; prints each entry claimed as one JSON line
``{"id": ..., "key": ...}`` (flushed: acted on), then acknowledges them. It
stops once a claim comes back empty after ``STOP_FILE`` exists (at most 60 s).
With ``--hold``, it acknowledges nothing: after its first non-empty claim it
waits to be killed (a crashed consumer).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from transfer_fsm.store.sqlite import SQLiteStore

SECONDS = 60.0


def main(argv: list[str]) -> None:
    hold = "--hold" in argv
    path, consumer, idle, stop = [arg for arg in argv if arg != "--hold"]
    deadline = time.monotonic() + SECONDS
    with SQLiteStore(path, synchronous="NORMAL") as store:
        while time.monotonic() < deadline:
            stopping = Path(stop).exists()  # before the claim: an empty claim after it is final
            entries = store.claim_journal(consumer, limit=7, idle=float(idle))
            for entry in entries:
                print(json.dumps({"id": entry.id, "key": entry.key}), flush=True)
            if hold and entries:
                time.sleep(SECONDS)  # killed before it wakes
            if entries:
                store.ack_journal(entries)
            elif stopping:
                return
            else:
                time.sleep(0.01)
    raise SystemExit(f"{consumer}: not stopped within {SECONDS} s")


if __name__ == "__main__":
    main(sys.argv[1:])
