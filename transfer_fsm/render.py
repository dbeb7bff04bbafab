"""Docs generated from the transition table: never copied by hand.

``python -m transfer_fsm table`` prints this; ``docs/model.md`` embeds it
between ``<!-- generated:table -->`` markers and a test keeps the two equal.
The diagrams are :mod:`transfer_fsm.diagram`'s.
"""

from __future__ import annotations

from .rules import (
    LEG_FATE,
    MEDIA,
    RULES,
    STATE_BLOCKER,
    STATE_RANK,
    STATUS_BLOCKER,
    Attempt,
    Fact,
    Rule,
    advances_to,
)
from .values import Blocker, TransferStatus

PHASES: list[tuple[str, TransferStatus | None]] = [
    ("no attempt", None),
    ("requested", TransferStatus.REQUESTED),
    ("transferring", TransferStatus.TRANSFERRING),
    ("accepted", TransferStatus.ACCEPTED),
    ("abandoned", TransferStatus.ABANDONED),
    ("failed", TransferStatus.FAILED),
    ("completed", TransferStatus.COMPLETED),
]


def _cell(rule: Rule | None, phase: TransferStatus | None) -> str:
    if rule is None:
        return "—"
    parts = []
    if rule.rank is not None:
        parts.append(f"rank {rule.rank}")
    status = advances_to(rule, phase)
    if status is not None:
        parts.append(
            f"opens {status.value}" if rule.attempt is Attempt.OPEN else f"→ {status.value}"
        )
    if rule.attempt is Attempt.ATTACH:
        parts.append("attach request")
    return ", ".join(parts) or "no effect"


def rules_table() -> str:
    """The call-state axis and transfer status rules, one row per fact."""
    head = "| fact | " + " | ".join(name for name, _ in PHASES) + " |"
    rule = "|---|" + "---|" * len(PHASES)
    rows = [
        f"| {fact.value} | "
        + " | ".join(_cell(RULES[phase].get(fact), phase) for _, phase in PHASES)
        + " |"
        for fact in Fact
    ]
    return "\n".join([head, rule, *rows])


def media_table() -> str:
    """How the media axis takes an audio fact in each phase."""
    lines = [
        "| phase (after the event's own status change) | notifications with another state "
        "| notifications with no state (media only) "
        "| notifications whose state is transferring / transferAccepted |",
        "|---|---|---|---|",
    ]
    for name, phase in PHASES:
        plain, stateless, attempt = MEDIA[phase]
        lines.append(f"| {name} | {plain.value} | {stateless.value} | {attempt.value} |")
    return "\n".join(lines)


def lifecycle_order() -> str:
    """The call-state axis outside an attempt, lowest rank first; ties share a rank."""
    by_rank: dict[int, list[str]] = {}
    for state, rank in STATE_RANK[None].items():
        if state is not None:
            by_rank.setdefault(rank, []).append(f"`{state.value}`")
    return " < ".join(f"{' = '.join(names)} ({rank})" for rank, names in sorted(by_rank.items()))


def _blocker(blocker: Blocker | None) -> str:
    return "may transfer" if blocker is None else f"`{blocker.value}`"


def precondition_tables() -> str:
    """What blocks ``POST /transfer``, by call state and by attempt status."""
    lines = ["| call state | blocker |", "|---|---|"]
    lines += [
        f"| {'not reported' if state is None else state.value} | {_blocker(blocker)} |"
        for state, blocker in STATE_BLOCKER.items()
    ]
    lines += ["", "| attempt status | blocker |", "|---|---|"]
    lines += [f"| {name} | {_blocker(STATUS_BLOCKER[phase])} |" for name, phase in PHASES]
    lines += ["", "| attempt status | fate of the call it replaces |", "|---|---|"]
    lines += [f"| {status.value} | `{fate.value}` |" for status, fate in LEG_FATE.items()]
    return "\n".join(lines)


def generated_markdown() -> str:
    """Everything ``docs/model.md`` embeds from the table."""
    return "\n\n".join(
        [
            "### Call-state axis and transfer status (`rules.RULES`)",
            "Each cell: the fact's rank on the call-state axis in that phase (it applies when "
            "it is at least the rank of the current state), and the transfer status it proves. "
            "`—`: the fact moves neither axis in that phase (stale when it names a state).",
            rules_table(),
            "### The call's lifecycle outside an attempt (derived from `rules.NO_ATTEMPT`)",
            lifecycle_order() + "; `terminated` is absorbing.",
            "### Media axis (`rules.MEDIA`)",
            media_table(),
            "### Preconditions and the replaced call "
            "(`rules.STATE_BLOCKER`, `rules.STATUS_BLOCKER`, `rules.LEG_FATE`)",
            "A call may be transferred when neither its state nor its attempt blocks it "
            "(`transfer_blockers`); `consultation_fate` reads the replaced call's fate.",
            precondition_tables(),
        ]
    )
