"""The injector's options, declared once: what ``fabricctl agent`` is given reaches the injector
ExaBGP starts, through the command line the agent writes into exabgp.conf."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bgp.options import InjectorOptions, InjectorRun
from fabric.cli.main import INJECTOR_DEFAULTS, app


def test_the_command_line_parses_back_to_the_same_run() -> None:
    run = InjectorRun(
        "unix:///run/fabric.sock", "h1", log_file=Path("/var/log/inj.log"),
        token_file=Path("/var/lib/rf/token"), ca_file=Path("/etc/rf/ca.pem"),
        options=InjectorOptions(require_kernel_route=True, allow=("10.100.0.0/16", "fd00::/48"),
                                kernel=False, reconcile_seconds=7.5),
    )  # fmt: skip
    assert InjectorRun.parse(run.argv()) == run
    assert InjectorRun.parse(InjectorRun("http://a", "h2").argv()) == InjectorRun("http://a", "h2")


def test_no_secret_goes_on_the_command_line() -> None:
    argv = InjectorRun("http://a", "h1", token_file=Path("/x/token")).argv()
    assert "--token-file" in argv and not any(a.startswith("--token=") for a in argv)


def test_the_cli_defaults_are_the_injectors() -> None:
    assert INJECTOR_DEFAULTS == InjectorOptions()
    shown = CliRunner().invoke(app, ["agent", "--help"], env={"COLUMNS": "200"}).output
    assert "--no-kernel" in shown and "--reconcile-seconds" in shown
