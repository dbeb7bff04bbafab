"""Docs generated from the transition table: never copied by hand.

``python -m transfer_fsm table`` prints this; ``docs/model.md`` embeds it
between ``<!-- generated:table -->`` markers and a test keeps the two equal.
"""

from __future__ import annotations

from .rules import MEDIA, RULES, Attempt, Fact, Rule, advances_to
from .values import TransferStatus

PHASES: list[tuple[str, TransferStatus | None]] = [
    ("no attempt", None),
    ("requested", TransferStatus.REQUESTED),
    ("transferring", TransferStatus.TRANSFERRING),
    ("accepted", TransferStatus.ACCEPTED),
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
        "| phase (after the event's own status change) | other notifications "
        "| notifications whose state is transferring / transferAccepted |",
        "|---|---|---|",
    ]
    for name, phase in PHASES:
        plain, attempt = MEDIA[phase]
        lines.append(f"| {name} | {plain.value} | {attempt.value} |")
    return "\n".join(lines)


def status_diagram() -> str:
    """A Mermaid state diagram of the transfer status, from the rules."""
    edges: dict[tuple[str, str], list[str]] = {}
    for name, phase in PHASES:
        for fact, rule in RULES[phase].items():
            status = advances_to(rule, phase)
            if status is None:
                continue
            source = "[*]" if phase is None else name
            edges.setdefault((source, status.value), []).append(fact.name.lower())
    lines = ["stateDiagram-v2"]
    for (source, target), facts in edges.items():
        lines.append(f"    {source} --> {target}: {' / '.join(facts)}")
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
            "### Media axis (`rules.MEDIA`)",
            media_table(),
            "### Transfer status (derived from `rules.RULES`)",
            "```mermaid\n" + status_diagram() + "\n```",
        ]
    )
