"""The systemd units fabricctl writes: valid for this machine's systemd (systemd-analyze verify),
hardened (its exposure score), running this installation's fabricctl, and the settings file
made once, readable by root only, never overwritten."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fabric.cli.main import app

ANALYZE = shutil.which("systemd-analyze")
EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+\.\d+)")


def install(tmp_path: Path, kind: str, *extra: str) -> Path:
    result = CliRunner().invoke(app, ["systemd", "install", kind, "--unit-dir", str(tmp_path / "u"),
                                      "--env-dir", str(tmp_path / "etc"), *extra])  # fmt: skip
    assert result.exit_code == 0, result.output
    return tmp_path / "u" / f"routed-fabric-{kind}.service"


@pytest.mark.parametrize(("kind", "most"), [("api", 2.0), ("agent", 4.0), ("tor-sync", 4.0)])
def test_units_verify_and_are_hardened(tmp_path: Path, kind: str, most: float) -> None:
    if ANALYZE is None:
        pytest.fail("systemd-analyze is missing (Debian's systemd package has it)")
    unit = install(tmp_path, kind, "--host", "node7")
    text = unit.read_text()
    assert f"ExecStart={Path(sys.executable).with_name('fabricctl')} " in text
    verified = subprocess.run([ANALYZE, "verify", str(unit)], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr
    scored = subprocess.run([ANALYZE, "security", "--offline=yes", str(unit)],
                            capture_output=True, text=True)  # fmt: skip
    found = EXPOSURE.search(scored.stdout + scored.stderr)
    assert found and float(found.group(1)) <= most, scored.stdout[-2000:]


def test_the_settings_file_is_made_once_and_kept(tmp_path: Path) -> None:
    install(tmp_path, "agent", "--host", "node7")
    env = tmp_path / "etc" / "agent.env"
    assert "FABRIC_HOST=node7" in env.read_text() and env.stat().st_mode & 0o777 == 0o600
    env.write_text("FABRIC_HOST=mine\n")
    install(tmp_path, "agent", "--host", "other")
    assert env.read_text() == "FABRIC_HOST=mine\n"


def test_show_prints_the_unit_and_refuses_an_unknown_kind() -> None:
    shown = CliRunner().invoke(app, ["systemd", "show", "api"])
    assert shown.exit_code == 0 and "DynamicUser=yes" in shown.output
    bad = CliRunner().invoke(app, ["systemd", "show", "router"])
    assert bad.exit_code == 2 and "choose api, agent or tor-sync" in bad.output
