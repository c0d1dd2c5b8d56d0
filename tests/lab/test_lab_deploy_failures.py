"""``fabricctl lab`` when things go wrong: a deploy that fails half-way, a lab deployed twice."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from fabric.lab.netns import namespaces

FABRICCTL = [sys.executable, "-m", "fabric.cli.main"]


def _topology(tmp_path: Path, second_exec: str) -> Path:
    doc = {
        "name": f"rf{uuid.uuid4().hex[:6]}-fail",
        "topology": {
            "nodes": {
                "a": {"kind": "linux", "image": "debian:12", "exec": ["sleep 300 >/dev/null &"]},
                "b": {"kind": "linux", "image": "debian:12", "exec": [second_exec]},
            },
            "links": [{"endpoints": ["a:eth1", "b:eth1"]}],
        },
    }
    path = tmp_path / "t.clab.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _run(path: Path, tmp_path: Path, verb: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLAB_LABDIR_BASE": str(tmp_path)}
    return subprocess.run(
        [*FABRICCTL, "lab", verb, str(path)], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def tmp_lab(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("needs root") if not os.environ.get("CI") else pytest.fail("needs root")
    os.chmod(tmp_path, 0o755)
    return tmp_path


def test_destroy_cleans_up_after_a_deploy_that_failed_half_way(tmp_lab: Path) -> None:
    path = _topology(tmp_lab, "exit 3")
    name = yaml.safe_load(path.read_text())["name"]
    ours = {f"clab-{name}-a", f"clab-{name}-b"}
    try:
        failed = _run(path, tmp_lab, "deploy")
        assert failed.returncode == 1
        assert "exec 'exit 3' failed" in failed.stderr and "lab destroy" in failed.stderr
        assert ours <= namespaces()  # half-way: namespaces and a's process exist
        sleeper = subprocess.run(
            ["ip", "netns", "pids", f"clab-{name}-a"], capture_output=True, text=True
        ).stdout.split()
        assert sleeper
        assert _run(path, tmp_lab, "destroy").returncode == 0
        assert not ours & namespaces()
        assert not [p for p in sleeper if Path(f"/proc/{p}").exists()]
        again = _run(path, tmp_lab, "destroy")
        assert again.returncode == 0 and "0 node(s) removed" in again.stdout
    finally:
        _run(path, tmp_lab, "destroy")


def test_a_lab_is_not_deployed_twice(tmp_lab: Path) -> None:
    path = _topology(tmp_lab, "true")
    try:
        assert _run(path, tmp_lab, "deploy").returncode == 0
        second = _run(path, tmp_lab, "deploy")
        assert second.returncode == 1
        assert "already deployed" in second.stderr
        inspected = _run(path, tmp_lab, "inspect")
        assert "running" in inspected.stdout
    finally:
        assert _run(path, tmp_lab, "destroy").returncode == 0
