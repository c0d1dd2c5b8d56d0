"""The committed containerlab files: valid for containerlab, in our subset, router configs golden.

Golden files: each router's frr.conf next to a topology must equal what the
controller renders today from the fabric file beside it. After a deliberate
change of the renderer or the fabric file, regenerate them with
``FABRIC_UPDATE_GOLDEN=1 .venv/bin/pytest tests/containerlab/test_files.py``
and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
import yaml
from fastapi.testclient import TestClient

from api.main import create_app
from fabric.cli import spec
from fabric.client.api import Client
from fabric.errors import InvalidInput
from fabric.lab.topology import load
from fabric.settings import Settings
from tests.harness.servers import ADMIN, ADMIN_TOKEN

REPO = Path(__file__).resolve().parents[2]
CLAB = REPO / "containerlab"
TOPOLOGIES = sorted(CLAB.glob("*.clab.yml"))
SCHEMA_PLACES = [
    os.environ.get("FABRIC_CLAB_SCHEMA", ""),
    str(REPO.parent / "shared" / "schemas" / "clab.schema.json"),
    "/work/shared/schemas/clab.schema.json",
]


def test_there_are_the_two_topologies() -> None:
    assert {p.name for p in TOPOLOGIES} == {"rack.clab.yml", "leaf-spine.clab.yml"}


@pytest.fixture(scope="module")
def clab_schema() -> dict[str, object]:
    for place in SCHEMA_PLACES:
        if place and Path(place).is_file():
            loaded: dict[str, object] = json.loads(Path(place).read_text())
            return loaded
    pytest.fail(f"containerlab's JSON schema not found in {SCHEMA_PLACES} (set FABRIC_CLAB_SCHEMA)")


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.name)
def test_topology_validates_against_containerlabs_schema(
    path: Path, clab_schema: dict[str, object]
) -> None:
    jsonschema.Draft7Validator(clab_schema).validate(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.name)
def test_topology_is_in_our_subset_with_brief_endpoints(path: Path) -> None:
    topo = load(path)
    assert topo.links and all(link.a[1].startswith("eth") for link in topo.links)
    for node in topo.nodes.values():
        for bind in node.binds:
            # Every bind source is in the repository, or the node's own lab directory.
            assert bind.source.exists() or str(bind.source).startswith(str(topo.lab_dir)), bind
        if node.is_frr:
            assert node.bound("/etc/frr/frr.conf") and node.bound("/etc/frr/daemons")
        if node.is_frr or node.labels.get("role") == "host":  # dual-stack: see the file
            assert node.sysctls == {"net.ipv6.conf.all.keep_addr_on_down": "1"}, node.name


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"mgmt": {"network": "x"}}, "key 'mgmt' is not supported"),
        ({"topology": {"nodes": {"a": {"kind": "nokia_srlinux", "image": "x"}}}}, "kind"),
        ({"topology": {"nodes": {"a": {"kind": "linux", "image": "x", "ports": []}}}}, "'ports'"),
        # A sysctl outside net.* would change the machine, not the node's namespace.
        ({"topology": {"nodes": {"a": {"kind": "linux", "image": "x",
                                       "sysctls": {"kernel.panic": 1}}}}}, "only net.*"),
        ({"topology": {"nodes": {"a": {"kind": "linux", "image": "x",
                                       "sysctls": {"net.x": "1; reboot"}}}}}, "plain number"),
        (
            {
                "topology": {
                    "nodes": {"a": {"kind": "linux", "image": "x"}},
                    "links": [{"endpoints": ["a:eth1", "a-eth2"]}],
                }
            },
            "'a-eth2' is not 'node:interface'",
        ),  # fmt: skip
        (
            {
                "topology": {
                    "nodes": {"a": {"kind": "linux", "image": "x"}},
                    "links": [{"endpoints": ["a:eth1", "b:eth1"]}],
                }
            },
            "names no node",
        ),  # fmt: skip
        (
            {
                "topology": {
                    "nodes": {"a": {"kind": "linux", "image": "x"}},
                    "links": [{"endpoints": ["a:eth1", "a:thisnameistoolong0"]}],
                }
            },
            "is not 'node:interface'",
        ),  # fmt: skip
    ],
)
def test_what_we_do_not_support_fails_naming_it(
    tmp_path: Path, change: dict[str, object], complaint: str
) -> None:
    doc = {"name": "t", "topology": {"nodes": {"a": {"kind": "linux", "image": "x"}}}, **change}
    path = tmp_path / "t.clab.yml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(InvalidInput) as caught:
        load(path)
    assert complaint in caught.value.detail
    assert caught.value.code == "unsupported_topology"


def _lab_dirs() -> list[Path]:
    return sorted(p for p in CLAB.iterdir() if (p / "fabric.yml").is_file())


@pytest.mark.parametrize("lab_dir", _lab_dirs(), ids=lambda p: p.name)
def test_router_configs_are_what_the_controller_renders(tmp_path: Path, lab_dir: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'golden.db'}", bootstrap_token=ADMIN_TOKEN
    )  # type: ignore[call-arg]
    fabric = spec.load(lab_dir / "fabric.yml")
    with TestClient(create_app(settings), headers=ADMIN) as http:
        client = Client("http://testserver", http=http)
        spec.apply(client, fabric)
        assert {a.result for a in spec.apply(client, fabric)} == {"exists"}  # idempotent
        stale = []
        for router in fabric["routers"]:
            # The lab's ownership changes at run time (allocations after deploy), so its
            # committed configs carry no IPAM filters; tests/fabric/render covers those.
            rendered = client.text(
                f"/v1/routers/{router['name']}/config", format="frr", filters="false"
            )
            committed = lab_dir / router["name"] / "frr.conf"
            if os.environ.get("FABRIC_UPDATE_GOLDEN"):
                committed.write_text(rendered)
            if not committed.exists() or committed.read_text() != rendered:
                stale.append(str(committed.relative_to(REPO)))
    assert not stale, f"out of date with the renderer (see this module's docstring): {stale}"
