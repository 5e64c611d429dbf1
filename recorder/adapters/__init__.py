"""Thin adapters, one outside thing each, behind the ports in `recorder.ports`."""
