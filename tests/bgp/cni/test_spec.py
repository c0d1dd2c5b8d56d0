"""The CNI contract's documents, against the spec's examples, for each version we speak."""

from __future__ import annotations

import json

import pytest

from bgp.cni.spec import (
    SUPPORTED,
    CniError,
    Invocation,
    IpConfig,
    Result,
    check_version,
    parse_cni_args,
    parse_result,
    version_answer,
)

# The spec's example result (SPEC.md, "Success"), trimmed to what a plugin of ours writes.
SPEC_1_0 = {
    "cniVersion": "1.0.0",
    "interfaces": [
        {"name": "fab0123456789a", "mac": "ee:ee:ee:ee:ee:ee"},
        {"name": "eth0", "mac": "02:11:22:33:44:55", "sandbox": "/var/run/netns/blue"},
    ],
    "ips": [{"address": "10.244.0.5/32", "gateway": "169.254.1.1", "interface": 1}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "169.254.1.1"}],
    "dns": {},
}


def result() -> Result:
    return parse_result(SPEC_1_0)


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0"])
def test_a_result_in_1_x_is_the_specs_document(version: str) -> None:
    assert result().document(version) == {**SPEC_1_0, "cniVersion": version}


def test_a_0_4_0_result_carries_the_family_of_each_ip() -> None:
    doc = Result((IpConfig("10.244.0.5/32", "169.254.1.1", 1),
                  IpConfig("fd00::5/128", "fe80::1", 1))).document("0.4.0")  # fmt: skip
    assert [ip["version"] for ip in doc["ips"]] == ["4", "6"]
    assert doc["cniVersion"] == "0.4.0" and "interfaces" not in doc


def test_an_ipam_result_has_no_interfaces_and_round_trips() -> None:
    ipam = Result((IpConfig("10.244.0.5/32", "169.254.1.1"),), ({"dst": "0.0.0.0/0"},))
    doc = ipam.document("1.1.0")
    assert doc == {"cniVersion": "1.1.0", "ips": [{"address": "10.244.0.5/32",
                   "gateway": "169.254.1.1"}], "routes": [{"dst": "0.0.0.0/0"}], "dns": {}}  # fmt: skip
    assert parse_result(json.loads(json.dumps(doc))) == ipam


def test_an_error_is_the_specs_document() -> None:
    error = CniError(11, "the fabric API cannot be reached", "POST /v1/allocations: refused")
    assert error.document("1.0.0") == {
        "cniVersion": "1.0.0", "code": 11, "msg": "the fabric API cannot be reached",
        "details": "POST /v1/allocations: refused",
    }  # fmt: skip
    assert "details" not in CniError(7, "bad").document("1.1.0")


def test_version_answers_what_we_speak() -> None:
    assert version_answer("0.4.0") == {"cniVersion": "0.4.0", "supportedVersions": list(SUPPORTED)}
    assert version_answer("9.9.9")["cniVersion"] == "1.1.0"
    assert check_version("1.0.0", "ADD") == "1.0.0"
    for bad in ("0.3.1", "2.0.0", None, 1):
        with pytest.raises(CniError) as exc:
            check_version(bad, "ADD")
        assert exc.value.code == 1
    with pytest.raises(CniError) as exc:  # GC and STATUS came with 1.1
        check_version("1.0.0", "GC")
    assert exc.value.code == 1


def test_the_environment_is_read_as_a_runtime_sets_it() -> None:
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "ctr", "CNI_NETNS": "/run/netns/x",
           "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin:/usr/lib/cni",
           "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=web;K8S_POD_NAME=api-0"}  # fmt: skip
    inv = Invocation.from_environ(env)
    assert inv.path == ("/opt/cni/bin", "/usr/lib/cni")
    assert inv.args["K8S_POD_NAME"] == "api-0"
    assert Invocation.from_environ({"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "c",
                                    "CNI_IFNAME": "eth0"}).netns == ""  # fmt: skip


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"CNI_COMMAND": "ATTACH"},
        {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c", "CNI_IFNAME": "eth0", "CNI_PATH": "/x"},
        {"CNI_COMMAND": "DEL", "CNI_IFNAME": "eth0"},
        {"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "c", "CNI_IFNAME": "a-name-too-long-for-linux"},
    ],
)
def test_a_bad_environment_is_error_4(env: dict[str, str]) -> None:
    with pytest.raises(CniError) as exc:
        Invocation.from_environ(env)
    assert exc.value.code == 4


def test_cni_args_must_be_pairs() -> None:
    assert parse_cni_args("") == {}
    assert parse_cni_args("A=1;B=") == {"A": "1", "B": ""}
    with pytest.raises(CniError):
        parse_cni_args("A=1;oops")


def test_a_result_that_is_not_one_is_error_6() -> None:
    for bad in ([], {"ips": "x"}, {"ips": [{"address": "not-an-ip"}]}, {"ips": [{}]}):
        with pytest.raises(CniError) as exc:
            parse_result(bad)
        assert exc.value.code == 6
