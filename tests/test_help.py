"""``help()`` of every public name shows that name's own documentation."""

from __future__ import annotations

import pydoc

import pytest

import transfer_fsm as tf

# An int constant's help() is int's own; every other public name documents itself.
DOCUMENTED = [name for name in tf.__all__ if name != "MAX_CLIENT_CONTEXT"]


def _help(value: object) -> str:
    """What ``help(value)`` prints."""
    return pydoc.plain(pydoc.render_doc(value))


@pytest.mark.parametrize("name", DOCUMENTED)
def test_help_shows_the_names_own_text(name: str) -> None:
    value = getattr(tf, name)
    doc = value.__doc__
    assert doc, f"{name} has no docstring"
    assert doc != type(value).__doc__, f"help({name}) would show {type(value).__name__}'s text"
    assert not doc.startswith(f"{name}("), f"{name} has only the generated NamedTuple text"
    text = _help(value)
    assert doc.strip().splitlines()[0] in text


@pytest.mark.parametrize("name", ["Event", "Notification"])
def test_help_of_a_type_alias_names_it(name: str) -> None:
    text = _help(getattr(tf, name))
    assert f"\n{name} = typing.Union[transfer_fsm.events.CallNotificatio" in text
    assert "PEP 604" not in text
    assert "module transfer_fsm.events" in text
