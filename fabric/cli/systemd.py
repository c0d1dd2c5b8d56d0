"""``fabricctl systemd``: units for the controller API and the host agent, hardened.

Each unit runs this installation's ``fabricctl`` and reads its settings from an environment
file in ``/etc/routed-fabric`` (``FABRIC_*``, as the commands read them). The API needs no
privilege at all: a dynamic user, its database in its own state directory, the file system
read-only around it. The agent stays root (ExaBGP, netlink routes) but keeps only the network
capabilities, with the rest of the system read-only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from fabric.cli.output import console

app = typer.Typer(help="systemd units for the API, the agent and tor-sync.", no_args_is_help=True)

# Shared by both units: what a network daemon of ours never needs.
HARDENING = """\
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectKernelTunables=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
LockPersonality=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
RemoveIPC=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
UMask=0077
"""

UNITS = {
    "api": """\
[Unit]
Description=routed-fabric controller API (IPAM, peers, desired state)
After=network-online.target postgresql.service
Wants=network-online.target

[Service]
Type=exec
# FABRIC_DATABASE_URL, FABRIC_LISTEN_HOST, FABRIC_LISTEN_PORT, FABRIC_BOOTSTRAP_TOKEN, ...
Environment=FABRIC_DATABASE_URL=sqlite:////var/lib/routed-fabric-api/fabric.db
EnvironmentFile=-/etc/routed-fabric/api.env
ExecStart={fabricctl} serve
Restart=on-failure
RestartSec=2
DynamicUser=yes
StateDirectory=routed-fabric-api
WorkingDirectory=/var/lib/routed-fabric-api
CapabilityBoundingSet=
AmbientCapabilities=
PrivateUsers=yes
MemoryDenyWriteExecute=yes
RestrictNamespaces=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
{hardening}
[Install]
WantedBy=multi-user.target
""",
    "agent": """\
[Unit]
Description=routed-fabric host agent (ExaBGP, route injection, kernel routes)
After=network-online.target
Wants=network-online.target

[Service]
Type=exec
# FABRIC_API_URL, FABRIC_HOST, FABRIC_TOKEN_FILE, FABRIC_CA_FILE, FABRIC_EXABGP_PYTHON
EnvironmentFile=/etc/routed-fabric/agent.env
ExecStart={fabricctl} agent --host ${{FABRIC_HOST}} --state-dir /var/lib/routed-fabric
# A stop withdraws nothing: the ToR keeps the routes for the graceful-restart time.
KillMode=control-group
TimeoutStopSec=15
Restart=always
RestartSec=2
StateDirectory=routed-fabric
StateDirectoryMode=0700
# Root for ExaBGP and netlink, with only the network's capabilities.
CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_NET_RAW CAP_SETUID CAP_SETGID
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK
{hardening}
[Install]
WantedBy=multi-user.target
""",
    "tor-sync": """\
[Unit]
Description=routed-fabric tor-sync (this router's configuration kept in step with IPAM)
After=network-online.target frr.service
Wants=network-online.target

[Service]
Type=exec
# FABRIC_API_URL, FABRIC_TOKEN_FILE (a router token: fabricctl token create --role router
# --router NAME; the configuration holds BGP passwords, so only this router's),
# FABRIC_ROUTER
EnvironmentFile=/etc/routed-fabric/tor-sync.env
ExecStart={fabricctl} tor-sync --router ${{FABRIC_ROUTER}} --config /etc/frr/frr.conf
Restart=always
RestartSec=2
# frr-reload.py and vtysh write /etc/frr and talk to FRR's vty sockets.
ReadWritePaths=/etc/frr /run/frr /var/run/frr
CapabilityBoundingSet=CAP_DAC_OVERRIDE CAP_CHOWN CAP_FOWNER
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
{hardening}
[Install]
WantedBy=multi-user.target
""",
}
ENV_FILES = {
    "api": "# FABRIC_DATABASE_URL=postgresql://fabric@db.example.net/fabric\n"
    "# FABRIC_LISTEN_HOST=0.0.0.0\n",
    "agent": "FABRIC_API_URL=http://controller:8080\nFABRIC_HOST={host}\n"
    "FABRIC_TOKEN_FILE=/etc/routed-fabric/agent.token\n",
    "tor-sync": "FABRIC_API_URL=http://controller:8080\nFABRIC_ROUTER={host}\n"
    "FABRIC_TOKEN_FILE=/etc/routed-fabric/tor-sync.token\n",
}
UNIT_NAMES = {kind: f"routed-fabric-{kind}.service" for kind in UNITS}


def unit(kind: str, fabricctl: Path | None = None) -> str:
    """The unit file text, its ExecStart this installation's fabricctl."""
    binary = fabricctl or Path(sys.executable).with_name("fabricctl")
    return UNITS[kind].format(fabricctl=binary, hardening=HARDENING)


Kind = Annotated[str, typer.Argument(help="api, agent or tor-sync", metavar="KIND")]


def _kind(kind: str) -> str:
    if kind not in UNITS:
        raise typer.BadParameter("choose api, agent or tor-sync", param_hint="KIND")
    return kind


@app.command("show")
def show(kind: Kind) -> None:
    """Print the unit (to review it, or to write it wherever you keep units)."""
    sys.stdout.write(unit(_kind(kind)))


@app.command("install")
def install(
    kind: Kind,
    unit_dir: Annotated[Path, typer.Option(help="Where systemd finds units.")] = Path(
        "/etc/systemd/system"
    ),
    env_dir: Annotated[Path, typer.Option(help="Where the environment file goes.")] = Path(
        "/etc/routed-fabric"
    ),
    host: Annotated[
        str, typer.Option(help="The agent's host, or tor-sync's router, name.")
    ] = "node1",
) -> None:
    """Write the unit, and an environment file to fill in if there is none yet."""
    kind = _kind(kind)
    unit_dir.mkdir(parents=True, exist_ok=True)
    path = unit_dir / UNIT_NAMES[kind]
    path.write_text(unit(kind))
    env_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
    env = env_dir / f"{kind}.env"
    if not env.exists():
        env.touch(mode=0o600)
        env.write_text(ENV_FILES[kind].format(host=host))
    console.print(f"wrote {path}; settings in {env}", soft_wrap=True)
    console.print(
        f"then: systemctl daemon-reload && systemctl enable --now {UNIT_NAMES[kind]}",
        soft_wrap=True,
    )
