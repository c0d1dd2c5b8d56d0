"""The process contract: one JSON document on stdout, exit 0 or 1, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bgp.cni import delegate
from bgp.cni.config import IpamConfig, PluginConfig
from bgp.cni.ipam import _common_prefix, attributes
from bgp.cni.run import execute
from bgp.cni.spec import CniError, Invocation

ADD_ENV = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "ctr1", "CNI_NETNS": "/run/netns/x",
           "CNI_IFNAME": "eth0", "CNI_PATH": "/nowhere"}  # fmt: skip


def token_file(tmp_path: Path, mode: int = 0o600) -> Path:
    path = tmp_path / f"token-{mode:o}"
    path.write_text("rft_secret-not-to-be-seen\n")
    path.chmod(mode)
    return path


def conf(tmp_path: Path, **ipam: Any) -> dict[str, Any]:
    section = {"type": "fabric-ipam", "api_url": "unix:///nonexistent.sock",
               "token_file": str(token_file(tmp_path)), "host": "h1", **ipam}  # fmt: skip
    return {"cniVersion": "1.1.0", "name": "fabric", "type": "fabric-cni", "ipam": section}


def boom(inv: Invocation, doc: dict[str, Any]) -> None:
    raise RuntimeError("a bug")


def test_an_unexpected_failure_is_an_error_document() -> None:
    doc, code = execute(boom, "fabric-cni", ADD_ENV, b'{"cniVersion": "1.0.0", "name": "n"}')
    assert code == 1 and doc is not None
    assert doc["code"] == 5 and doc["cniVersion"] == "1.0.0" and "RuntimeError" in doc["details"]


def test_version_needs_no_container() -> None:
    doc, code = execute(boom, "x", {"CNI_COMMAND": "VERSION"}, b'{"cniVersion": "1.0.0"}')
    assert code == 0 and doc == {"cniVersion": "1.0.0",
                                 "supportedVersions": ["0.4.0", "1.0.0", "1.1.0"]}  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "code"),
    [(b"{nope", 6), (b"[]", 6), (b'{"cniVersion": "0.3.1", "name": "n"}', 1)],
)
def test_bad_input_gets_the_specs_code(raw: bytes, code: int) -> None:
    doc, exit_code = execute(boom, "x", ADD_ENV, raw)
    assert exit_code == 1 and doc is not None and doc["code"] == code


def test_the_plugins_never_print_a_traceback_and_never_the_token(tmp_path: Path) -> None:
    """The installed executables, run as a runtime runs them: the API is not there."""
    doc = conf(tmp_path, log_file_path=str(tmp_path / "cni.log"))
    for plugin in ("fabric-ipam", "fabric-cni"):
        exe = Path(sys.executable).with_name(plugin)
        env = {**os.environ, **ADD_ENV, "CNI_COMMAND": "DEL"}
        proc = subprocess.run([str(exe)], input=json.dumps(doc).encode(), env=env,
                              capture_output=True, timeout=30)  # fmt: skip
        assert proc.returncode == 1
        answer = json.loads(proc.stdout)
        assert answer["code"] == 11 and "cannot be reached" in answer["msg"]
        assert b"Traceback" not in proc.stdout + proc.stderr
    log = (tmp_path / "cni.log").read_text()
    assert "failed with 11" in log and "rft_secret" not in log


def test_the_config_is_checked_with_a_sentence_per_key(tmp_path: Path) -> None:
    good = conf(tmp_path)
    assert IpamConfig.from_doc(good).family == "4"
    for key, value, words in [
        ("api_url", "ftp://x", "api_url"),
        ("family", "5", "family"),
        ("pools", "pods", "pools"),
        ("timeout_seconds", 0, "timeout_seconds"),
        ("token_file", None, "token_file"),
    ]:
        bad = conf(tmp_path, **{key: value})
        with pytest.raises(CniError) as exc:
            IpamConfig.from_doc(bad)
        assert exc.value.code == 7 and words in exc.value.msg
    loose = conf(tmp_path, token_file=str(token_file(tmp_path, 0o644)))
    with pytest.raises(CniError, match="chmod 600"):
        IpamConfig.from_doc(loose)
    with pytest.raises(CniError):
        PluginConfig.from_doc({**good, "mtu": 20})
    with pytest.raises(CniError):
        PluginConfig.from_doc({**good, "name": "bad name"})
    assert PluginConfig.from_doc({"name": "n"}).ipam_type == "fabric-ipam"  # the default IPAM


def test_attributes_carry_the_pod_from_cni_args(tmp_path: Path) -> None:
    env = {**ADD_ENV, "CNI_ARGS": "K8S_POD_NAMESPACE=web;K8S_POD_NAME=api-0;K8S_POD_UID=u1"}
    attrs = attributes(Invocation.from_environ(env), IpamConfig.from_doc(conf(tmp_path)))
    assert attrs == {"network": "fabric", "container_id": "ctr1", "ifname": "eth0",
                     "namespace": "web", "pod": "api-0", "pod_uid": "u1"}  # fmt: skip


def test_the_gateways_prefix_holds_both_blocks() -> None:
    assert _common_prefix("10.100.0.64/26", "10.100.0.64/26") == 26
    assert _common_prefix("10.100.0.64/26", "10.100.0.0/26") == 25
    assert _common_prefix("10.100.1.0/26", "10.100.0.0/26") == 23
    assert _common_prefix("fd00::40/122", "fd00::/122") == 121


def test_a_delegated_plugins_error_is_passed_on(tmp_path: Path) -> None:
    plugin = tmp_path / "failing-ipam"
    plugin.write_text('#!/bin/sh\necho \'{"cniVersion":"1.0.0","code":100,"msg":"full"}\'\n'
                      "exit 1\n")  # fmt: skip
    plugin.chmod(0o755)
    inv = Invocation.from_environ({**ADD_ENV, "CNI_PATH": str(tmp_path)})
    with pytest.raises(CniError) as exc:
        delegate.ipam(inv, {"ipam": {"type": "failing-ipam"}})
    assert (exc.value.code, exc.value.msg) == (100, "full")
    with pytest.raises(CniError) as exc:
        delegate.ipam(inv, {"ipam": {"type": "absent-ipam"}})
    assert exc.value.code == 7 and "CNI_PATH" in exc.value.msg
