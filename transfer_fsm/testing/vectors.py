"""The conformance vectors: every case as a JSON file, generated from the kit's flows.

``transfer-fsm vectors --write DIR`` writes them; the package ships them in
``transfer_fsm/testing/vectors/`` with their JSON Schema,
``transfer_fsm/testing/case.schema.json``, and a test regenerates them and
compares the bytes, so they cannot drift from the kit. Nothing here needs
hypothesis.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from .cases import TIERS, Case, all_cases, delivery_orders, reference

FORMAT = 1
"""The version of the case format (``"format"`` in each file, ``case.schema.json``)."""

VECTORS = "vectors"
"""The folder of the shipped vectors, inside ``transfer_fsm.testing``."""


def case_json(case: Case) -> dict[str, Any]:
    """One case as its file holds it: the history, and each delivery with the reference's
    final view and milestones."""
    deliveries = []
    for kind, order in delivery_orders(case):
        final, milestones = reference(case, order)
        deliveries.append(
            {"kind": kind, "order": list(order), "final": final.to_dict(), "milestones": milestones}
        )
    return {
        "format": FORMAT,
        "id": case.id,
        "name": case.name,
        "tier": case.tier,
        "source": case.source.to_json(),
        "call_id": case.call_id,
        "start": None if case.start is None else case.start.to_dict(),
        "inputs": list(case.inputs),
        "deliveries": deliveries,
    }


def case_text(case: Case) -> str:
    """A case file's text: JSON, two-space indents, each delivery on a line of its own."""
    data = case_json(case)
    deliveries = data.pop("deliveries")
    head = json.dumps(data, indent=2, ensure_ascii=False)
    lines = ",\n".join(
        "    " + json.dumps(item, ensure_ascii=False, separators=(",", ":")) for item in deliveries
    )
    return f'{head[:-2]},\n  "deliveries": [\n{lines}\n  ]\n}}\n'


def generated() -> dict[str, str]:
    """Every case file's name and text, in the order the cases are listed."""
    return {f"{case.id}.json": case_text(case) for case in all_cases()}


def write_vectors(folder: str | Path) -> list[str]:
    """Write every case file into ``folder`` (created if missing); the names written.

    Files of this format no longer generated are left alone: delete the folder
    first to drop them.
    """
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generated().items():
        (path / name).write_text(text, encoding="utf-8")
        written.append(name)
    return written


def shipped_folder() -> Path:
    """The folder of the vectors this package ships."""
    return Path(str(resources.files(__package__).joinpath(VECTORS)))


def load_cases(folder: str | Path | None = None) -> list[dict[str, Any]]:
    """Every case file of ``folder`` (by default the shipped vectors), decoded, by tier then id."""
    path = shipped_folder() if folder is None else Path(folder)
    cases = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(path.glob("*.json"))]
    return sorted(cases, key=lambda case: (TIERS.index(case["tier"]), case["id"]))
