"""``fabricctl``: the one command line of routed-fabric, for people and daemons.

The only corner of ``fabric`` that may reach ``api`` (to serve) and ``bgp`` (to
run the agent), each import made inside its own command.
"""
