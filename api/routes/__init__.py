"""One router per resource; ``api.main`` aggregates them."""
