"""Text the library keeps: call ids, and the strings a :class:`~transfer_fsm.Call` stores.

JSON can spell a lone surrogate (``"\\ud800"``) that no UTF-8 can carry, and
control characters. A call id is a store's key (an SQLite column, a Redis
key) and goes into log lines: it must be text UTF-8 can carry, with no
control character (C0, DEL or C1), and at most :data:`MAX_ID_LENGTH`
characters (Graph's are 36), so junk ids cannot fill a store. A string a ``Call`` keeps (a
``terminationReason``, a ``replacesContext``, a ``resultInfo.message``) must be
text UTF-8 can carry, so that any snapshot can be written as UTF-8 JSON; a
control character is fine there (JSON escapes it).
"""

from __future__ import annotations

import re

from .values import describe_value

MAX_ID_LENGTH = 256
"""The longest call id the library accepts, in characters (Graph's ids have 36)."""

CALL_ID = (
    f"a call id (text UTF-8 can carry, with no control characters, {MAX_ID_LENGTH} characters"
    " at most)"
)
"""What a call id is, as errors say it."""

CARRIED = "text UTF-8 can carry (no lone surrogate)"
"""What a kept string is, as errors say it."""

_SURROGATE = "\ud800-\udfff"  # code points UTF-8 cannot encode (JSON pairs a valid pair)
_NOT_IN_ID = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f{_SURROGATE}]").search
_NOT_CARRIED = re.compile(f"[{_SURROGATE}]").search


def id_flaw(text: str) -> str | None:
    """What is wrong with ``text`` as a call id, ``None`` when nothing is."""
    if len(text) > MAX_ID_LENGTH:
        return f"{describe_value(text)} ({len(text)} characters)"
    found = _NOT_IN_ID(text)
    return None if found is None else _flaw(text, found.start())


def text_flaw(text: str) -> str | None:
    """What is wrong with ``text`` as a string a ``Call`` keeps, ``None`` when nothing is."""
    found = _NOT_CARRIED(text)
    return None if found is None else _flaw(text, found.start())


def _flaw(text: str, offset: int) -> str:
    """``text`` as an error names it, and the character at ``offset`` that is wrong in it."""
    wrong = text[offset]
    kind = "a lone surrogate" if _NOT_CARRIED(wrong) else "a control character"
    return f"{describe_value(text)} ({kind}, U+{ord(wrong):04X}, at offset {offset})"
