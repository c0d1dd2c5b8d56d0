"""Request and response bodies of the API, by resource (``XCreate`` / ``XUpdate`` / ``XPublic``)."""
