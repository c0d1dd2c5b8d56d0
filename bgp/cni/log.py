"""The plugins' debug log (``log_file_path``): nothing is logged, nor imported, without one.

``logging`` is dear to import for a plugin (bench/README.md, CNI); it is loaded when a
config asks for a log file. Lines carry the time, the PID and the call; never the token or
the config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_logger: Any = None


def open_log(path: Path | None) -> None:
    global _logger
    if path is None or _logger is not None:
        return
    import logging

    try:
        handler = logging.FileHandler(path)
    except OSError:
        return  # a log we cannot open must not fail the container
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
    logger = logging.getLogger("routed-fabric.cni")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # stderr stays quiet: stdout is the answer
    _logger = logger


def info(msg: str, *args: object) -> None:
    if _logger is not None:
        _logger.info(msg, *args)


def warning(msg: str, *args: object) -> None:
    if _logger is not None:
        _logger.warning(msg, *args)


def exception(msg: str, *args: object) -> None:
    if _logger is not None:
        _logger.exception(msg, *args)
