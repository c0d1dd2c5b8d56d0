"""A session's prefix counts as people read them: per address family where the host said which
families the session negotiated (``ipv4 ↑3 ↓0, ipv6 ↑1 ↓0``), else the totals (``↑3 ↓0``).
One wording for ``fabricctl peers`` and the status page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def prefix_counts(row: Mapping[str, Any]) -> str:
    families: Mapping[str, Mapping[str, int]] = row.get("families") or {}
    if not families:
        return f"↑{row['prefixes_sent']} ↓{row['prefixes_received']}"
    return ", ".join(f"{f} ↑{c['sent']} ↓{c['received']}" for f, c in sorted(families.items()))
