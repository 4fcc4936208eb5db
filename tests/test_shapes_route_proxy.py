"""Localized `route print` and `netsh winhttp show proxy` give the same frames as English (issue 14)."""

from __future__ import annotations

from pathlib import Path

from kit.parse import route_print

SHAPES = Path(__file__).resolve().parent / "shapes"
ROUTE_DIR = SHAPES / "route_print"


def test_german_route_print_keeps_every_on_link_row() -> None:
    text = (ROUTE_DIR / "route_print.de.cp850.txt").read_bytes().decode("cp850")
    routes = route_print.parse(text, source="commands/route_print.txt").frames["routes"]
    v4 = routes[routes["family"] == "IPv4"]
    assert len(v4) == 13
    assert int(v4["on_link"].sum()) == 10
