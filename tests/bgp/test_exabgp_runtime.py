"""Which interpreter runs ExaBGP: probed for real, refused with a clear reason."""

from __future__ import annotations

import gc
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from bench.common import PYPY_EXABGP
from bgp import exabgp_runtime


def _venv(tmp_path: Path, exabgp_version: str | None) -> str:
    """A real interpreter (a venv of this Python, no pip) with no ExaBGP, or a stand-in
    package that only says its version."""
    target = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    if exabgp_version:
        purelib = sysconfig.get_path("purelib", vars={"base": str(target)})
        package = Path(purelib) / "exabgp"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "version.py").write_text(f"version = {exabgp_version!r}\n")
    return str(target / "bin" / "python")


def test_this_interpreter_runs_exabgp_with_its_collector_tuned() -> None:
    runtime = exabgp_runtime.probe()
    assert runtime == exabgp_runtime.this_interpreter()  # the agent's default, unprobed
    assert runtime.implementation == "cpython"
    assert exabgp_runtime.exabgp_requirement().specifier.contains(runtime.exabgp_version)
    command = runtime.command()
    assert command[0] == runtime.python and command[-1] == "server"
    # The command runs ExaBGP's own entry point: asked its version, it answers it.
    version = subprocess.run(
        [*command[:-1], "version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert f"ExaBGP : {runtime.exabgp_version}" in version.stdout
    # ... after raising the collector's first threshold, before anything of ExaBGP runs.
    program = command[command.index("-c") + 1]
    assert program.endswith(exabgp_runtime._EXABGP_MAIN)
    before_exabgp = program.replace(exabgp_runtime._EXABGP_MAIN, "print(gc.get_threshold()[0])")
    seen = subprocess.run(
        [runtime.python, "-c", before_exabgp], capture_output=True, text=True, check=True
    )
    assert int(seen.stdout) == exabgp_runtime.CPYTHON_GC_THRESHOLD != gc.get_threshold()[0]


def test_pypy_runs_exabgp_with_its_jit_and_gc_tuned() -> None:
    runtime = exabgp_runtime.probe(str(PYPY_EXABGP))  # made by scripts/setup --test
    assert runtime.implementation == "pypy"
    command = runtime.command()
    assert runtime.python in command and command[-3:] == ["-m", "exabgp", "server"]
    # The interpreter as the agent starts it really is PyPy with our settings.
    probe = "import os, sys, json; print(json.dumps([sys.implementation.name, os.environ.get('PYPY_GC_NURSERY')]))"
    seen = subprocess.run(
        [*runtime.interpreter(), "-c", probe], capture_output=True, text=True, check=True
    )
    assert seen.stdout.split("\n")[-2] == f'["pypy", "{exabgp_runtime.PYPY_GC_NURSERY}"]'
    assert "--jit" in command


def test_an_interpreter_without_exabgp_is_refused_with_the_install_command(
    tmp_path: Path,
) -> None:
    python = _venv(tmp_path, None)
    with pytest.raises(exabgp_runtime.ExaBgpRuntimeError) as refused:
        exabgp_runtime.probe(python)
    assert refused.value.code == "exabgp_runtime"
    assert "cannot import ExaBGP" in refused.value.detail and "pip install" in refused.value.detail


def test_an_exabgp_of_another_major_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(exabgp_runtime.ExaBgpRuntimeError, match="has ExaBGP 4.2.22; .* needs"):
        exabgp_runtime.probe(_venv(tmp_path, "4.2.22"))


def test_a_missing_interpreter_is_refused(tmp_path: Path) -> None:
    with pytest.raises(exabgp_runtime.ExaBgpRuntimeError, match="not an executable"):
        exabgp_runtime.probe(str(tmp_path / "nowhere" / "python"))


def test_the_agent_refuses_a_wrong_interpreter_before_starting_anything(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "fabric.cli.main", "agent", "--api", "http://127.0.0.1:9",
         "--host", "h1", "--state-dir", str(state), "--metrics", "",
         "--exabgp-python", str(tmp_path / "nowhere")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    said = " ".join(done.stderr.split())  # rich wraps at the terminal's width
    assert "[exabgp_runtime]" in said and "is not an executable Python interpreter" in said
    assert not (state / "exabgp.conf").exists()  # nothing rendered, nothing started


def test_creating_the_pypy_env_again_keeps_the_one_there() -> None:
    before = PYPY_EXABGP.stat().st_mtime_ns
    runtime = exabgp_runtime.create_pypy_env(PYPY_EXABGP.parent.parent)
    assert runtime.implementation == "pypy"
    assert PYPY_EXABGP.stat().st_mtime_ns == before
