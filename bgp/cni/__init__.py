"""The CNI plugins a container runtime runs on a host: ``fabric-cni`` and ``fabric-ipam``.

``fabric-ipam`` (``ipam.py``) gets addresses from the controller's REST API; any main plugin
can delegate to it. ``fabric-cni`` (``plugin.py``) plumbs a container Calico's way (a veth,
the /32 or /128 on the container side, a link-local gateway, proxy ARP and a host route) and
delegates IPAM to the plugin its config names.

A runtime starts a plugin for every container it adds or deletes, so start-up time is the
latency its users see. These modules import only the standard library: httpx, pyroute2 or
pydantic would each cost a good part of an ADD's budget in imports alone (bench/README.md,
CNI). ``tests/bgp/cni/test_imports.py`` keeps it so.

    spec.py     the CNI contract: versions, error codes, results, the environment
    config.py   the network configuration, validated
    api.py      the REST calls, on the standard library's http.client
    ipam.py     fabric-ipam's commands
    links.py    the kernel side (iproute2's ``ip -batch``)
    delegate.py running the IPAM plugin a config names
    plugin.py   fabric-cni's commands
    run.py      the process around a command: stdin, stdout, exit code, log file
"""
