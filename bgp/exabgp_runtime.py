"""Which interpreter runs ExaBGP: this one by default, or PyPy for hosts with many routes.

ExaBGP is pure Python and runs on one core; profiled while it ingests API routes, much of
its time per route is deep-copying each on its way into the RIB. PyPy runs the very same
ExaBGP (same version, same ``exabgp.conf``, same API lines) faster once its JIT has
compiled that path (bench/README.md); the JIT's thresholds are lowered so a burst of routes
is compiled early rather than after the first tens of thousands, and its young
generation is larger. Only ExaBGP's
interpreter changes: the route-injection process it starts is still this Python.

On CPython, ExaBGP runs with its cyclic garbage collector's first threshold raised: its
entry point is called from a ``-c`` program that sets it first. ExaBGP's code is as
installed; only the interpreter's setting differs, as PyPy's nursery does.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from fabric.errors import FabricError

# The defaults (1039/1619) compile the route path only late in a burst; lower than these was
# no faster (bench/README.md: measured choices).
PYPY_JIT_FLAGS = ("--jit", "threshold=200,function_threshold=300,trace_eagerness=50")
# PyPy's young generation (its default follows the L2 cache: a few MiB): ExaBGP allocates
# a dozen objects per route it takes in (bench/README.md: measured choices).
PYPY_GC_NURSERY = "64MB"
# CPython collects its youngest objects every 700 new containers, and one collection in ten
# (in a hundred) walks the older generations too: a heap that grows with the RIB. ExaBGP
# taking routes in allocates a dozen containers a route (it deep-copies each), so a young
# collection every few dozen routes. Raised, ExaBGP takes routes in faster with the same peak
# memory (bench/README.md: measured choices); collection off was only a little faster, and a
# daemon must still collect its cycles: it does, every 100,000 containers.
CPYTHON_GC_THRESHOLD = 100_000
# Then ``python -m exabgp`` exactly as ``-m`` runs it (runpy: ExaBGP finds its etc folder
# from ``sys.argv[0]``, which ``-m`` sets to its ``__main__.py``). A ``-c`` program, so any
# CPython with ExaBGP installed runs it, this package installed there or not.
_CPYTHON_GC = f"import gc; gc.set_threshold({CPYTHON_GC_THRESHOLD})"
_EXABGP_MAIN = "import runpy; runpy.run_module('exabgp', run_name='__main__', alter_sys=True)"
_PROBE = (
    "import json, sys; from exabgp import version; "
    "print(json.dumps([sys.implementation.name, version.version]))"
)


class ExaBgpRuntimeError(FabricError):
    code = "exabgp_runtime"


@dataclass(frozen=True)
class Runtime:
    python: str
    implementation: str  # sys.implementation.name: "cpython", "pypy"
    exabgp_version: str

    def interpreter(self) -> list[str]:
        """The argv of the interpreter as it runs ExaBGP (PyPy: its GC and JIT settings)."""
        if self.implementation != "pypy":
            return [self.python]
        # By env(1), which execs: the settings travel with the argv to whoever starts it.
        return ["env", f"PYPY_GC_NURSERY={PYPY_GC_NURSERY}", self.python, *PYPY_JIT_FLAGS]

    def command(self) -> list[str]:
        """The argv that starts ExaBGP's server (the config path goes last)."""
        if self.implementation == "cpython":
            return [*self.interpreter(), "-c", f"{_CPYTHON_GC}; {_EXABGP_MAIN}", "server"]
        return [*self.interpreter(), "-m", "exabgp", "server"]


def this_interpreter() -> Runtime:
    """The default: ExaBGP as installed beside this package, run by this interpreter."""
    return Runtime(sys.executable, sys.implementation.name, metadata.version("exabgp"))


def exabgp_requirement() -> Requirement:
    """The ExaBGP versions this project pins (pyproject.toml): one place says which."""
    for spec in metadata.requires("routed-fabric") or []:
        req = Requirement(spec)
        if req.name == "exabgp" and req.marker is None:
            return req
    raise ExaBgpRuntimeError("routed-fabric's metadata names no ExaBGP requirement.")


def probe(python: str | None = None) -> Runtime:
    """Check that ``python`` (default: this interpreter) runs an ExaBGP we support."""
    exe = python or sys.executable
    found = shutil.which(exe)
    if found is None:
        raise ExaBgpRuntimeError(f"{exe} is not an executable Python interpreter.")
    try:
        done = subprocess.run(
            [found, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ExaBgpRuntimeError(f"{exe} could not be run: {exc}.") from None
    if done.returncode != 0:
        raise ExaBgpRuntimeError(
            f"{exe} cannot import ExaBGP; install it there with "
            f"'{exe} -m pip install \"{exabgp_requirement()}\"'."
        )
    implementation, version = json.loads(done.stdout.strip().splitlines()[-1])
    wanted = exabgp_requirement().specifier
    if not wanted.contains(version, prereleases=True):
        raise ExaBgpRuntimeError(
            f"{exe} has ExaBGP {version}; routed-fabric needs ExaBGP {wanted}."
        )
    return Runtime(found, implementation, version)


def probe_pypy(python: str) -> Runtime:
    """``probe``, and PyPy it must be."""
    runtime = probe(python)
    if runtime.implementation != "pypy":
        raise ExaBgpRuntimeError(f"{python} is not PyPy ({runtime.implementation}).")
    return runtime


def create_pypy_env(target: Path, pypy: str = "pypy3") -> Runtime:
    """A PyPy virtualenv at ``target`` holding the ExaBGP version we pin; kept if it is
    already one (idempotent: setup scripts call it on every run)."""
    python = target / "bin" / "python"
    if python.exists():
        with contextlib.suppress(ExaBgpRuntimeError):  # not (or no longer) one: made again
            return probe_pypy(str(python))
    interpreter = shutil.which(pypy)
    if interpreter is None:
        raise ExaBgpRuntimeError(f"{pypy} is not installed; on Debian: apt-get install pypy3.")
    steps = (
        [interpreter, "-m", "venv", "--clear", str(target)],
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         str(exabgp_requirement())],
    )  # fmt: skip
    for argv in steps:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise ExaBgpRuntimeError(f"{' '.join(argv[:3])} failed: {' / '.join(tail)}")
    return probe_pypy(str(python))
