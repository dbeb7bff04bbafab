"""Short readings of callback bodies, for the reports of the kit and of ``transfer-fsm conform``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def describe_body(body: Mapping[str, Any]) -> str:
    """A short reading of a callback body: its state, audio, result and reason."""
    parts: list[str] = []
    for item in body.get("value") or ():
        data = item.get("resourceData") if isinstance(item, Mapping) else None
        if not isinstance(data, Mapping):
            parts.append("(no resourceData)")
            continue
        words = [str(data.get("state") or data.get("status") or "-")]
        media = data.get("mediaState")
        if isinstance(media, Mapping) and "audio" in media:
            words.append(f"audio {media['audio']}")
        result = data.get("resultInfo")
        if isinstance(result, Mapping):
            code = result.get("code")
            sub = result.get("subcode", result.get("subCode"))
            words.append(f"{code}/{sub}")
        if data.get("terminationReason"):
            words.append(str(data["terminationReason"]))
        parts.append(", ".join(words))
    return "; ".join(parts)
