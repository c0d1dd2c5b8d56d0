"""tor-sync's loop against a scripted API and router: a new rendering is applied, verified and
reported; the same one is left alone; one the router refuses is reported as refused and the
last good one applied again; prefix-lists are compared as FRR prints them."""

from __future__ import annotations

import threading

from bgp.tor_sync import ApplyFailed, TorSync, prefix_lists
from fabric.client.router import Rendered

GOOD = Rendered("ip prefix-list h1 seq 10 permit 10.244.0.0/26 le 32\n", "a" * 64, 7)
NEWER = Rendered("ip prefix-list h1 seq 10 permit 10.244.0.0/26 le 32\n"
                 "ip prefix-list h1 seq 20 permit 10.244.0.64/26 le 32\n", "b" * 64, 9)  # fmt: skip


class Router:
    def __init__(self) -> None:
        self.loaded: list[str] = []
        self.refuse: set[str] = set()

    def apply(self, text: str) -> None:
        if text in self.refuse:
            raise ApplyFailed("frr-reload.py failed (1): line 2: % Unknown command")
        self.loaded.append(text)

    def verify(self, text: str) -> None:
        assert self.loaded[-1] == text

    def accepted(self) -> dict[str, list[str]]:
        return {"10.1.1.1": ["10.244.0.0/26"]}


class Api:
    def __init__(self) -> None:
        self.reports: list[tuple[str, str | None]] = []

    def config(self, digest: str | None = None, wait: float = 0) -> Rendered:
        raise AssertionError("not polled in these tests")

    def report(
        self, rendered: Rendered, error: str | None = None,
        accepted: dict[str, list[str]] | None = None,
    ) -> None:  # fmt: skip
        self.reports.append((rendered.digest, error))
        self.accepted = accepted


def sync() -> tuple[TorSync, Router, Api]:
    router, api = Router(), Api()
    return TorSync(api, router, threading.Event()), router, api  # type: ignore[arg-type]


def test_a_new_rendering_is_applied_and_reported_once() -> None:
    tor, router, api = sync()
    assert tor.step(GOOD) and not tor.step(GOOD)
    assert router.loaded == [GOOD.text] and api.reports == [(GOOD.digest, None)]
    assert tor.step(NEWER) and tor.applied == NEWER


def test_a_refused_rendering_is_reported_and_the_last_good_one_applied_again() -> None:
    tor, router, api = sync()
    tor.step(GOOD)
    router.refuse.add(NEWER.text)
    assert not tor.step(NEWER)
    assert api.reports[-1][0] == NEWER.digest and "Unknown command" in (api.reports[-1][1] or "")
    assert router.loaded == [GOOD.text, GOOD.text] and tor.applied == GOOD
    assert not tor.step(NEWER) and len(router.loaded) == 2  # not tried again at once
    router.refuse.clear()
    tor.refused = (NEWER.digest, 0.0)  # as if RETRY_SECONDS had passed
    assert tor.step(NEWER) and tor.refused is None


def test_what_the_router_accepted_is_reported_with_what_it_applied() -> None:
    tor, _, api = sync()
    tor.report_accepted()
    assert api.reports == []  # nothing applied yet: nothing to say
    tor.step(GOOD)
    tor.report_accepted()
    assert api.reports[-1] == (GOOD.digest, None) and api.accepted == {"10.1.1.1": ["10.244.0.0/26"]}


def test_prefix_lists_are_compared_as_frr_prints_them() -> None:
    running = "frr version 8.4\n!\nip prefix-list h1 seq 10 permit 10.244.0.0/26  le 32\nrouter bgp 1\n"
    assert prefix_lists(running) == prefix_lists(GOOD.text)
    assert prefix_lists(NEWER.text) - prefix_lists(running) == {
        "ip prefix-list h1 seq 20 permit 10.244.0.64/26 le 32"
    }
