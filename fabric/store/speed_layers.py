"""The IPAM write path's speed layers, each of which can be switched off to measure what it
earns (``python -m bench layers``; the table in bench/README.md). Same answers with any of
them off, only slower: that is what the tests of each layer check.

``FABRIC_SPEED_LAYERS_OFF=lean,group_commit`` (read once, when the process starts):

- ``lean``: the hot routes through FastAPI's general handler (``api.lean_route`` off);
- ``group_commit``: every write its own transaction (``api.group_commit`` batches of one);
- ``together``: a batch's requests each through its own work, not one statement of each kind;
- ``at_once``: PostgreSQL, a batch of allocations or of releases by handle in a transaction
  of ours, not written in autocommit (``ipam_fast.allocate_at_once``, ``release_at_once``);
- ``known``: what the last fast write left is read again (``ipam_fast._KNOWN``);
- ``core``: the ORM allocator for every allocation (no ``ipam_fast``), and no ``together``;
- ``pg_statement``: PostgreSQL writes a plan with the Core statements SQLite uses, not
  ``ipam_pg``'s one statement.

A measuring knob, not a tuning one: production runs with every layer on.
"""

from __future__ import annotations

import os

LAYERS = ("lean", "group_commit", "together", "at_once", "known", "core", "pg_statement")


def _off() -> frozenset[str]:
    named = {n.strip() for n in os.environ.get("FABRIC_SPEED_LAYERS_OFF", "").split(",")}
    named.discard("")
    unknown = sorted(named - set(LAYERS))
    if unknown:
        raise ValueError(
            f"FABRIC_SPEED_LAYERS_OFF: unknown layer {unknown[0]!r}; the layers are "
            f"{', '.join(LAYERS)}"
        )
    return frozenset(named)


OFF = _off()


def on(layer: str) -> bool:
    assert layer in LAYERS, layer
    return layer not in OFF
