"""Where Debian's FRR packages put what we run of them: the daemons (``frr``) and
``frr-reload.py`` (``frr-pythontools``), and the user the daemons drop to."""

from __future__ import annotations

from pathlib import Path

FRR_BIN = Path("/usr/lib/frr")
FRR_RELOAD = FRR_BIN / "frr-reload.py"
FRR_USER = "frr"
