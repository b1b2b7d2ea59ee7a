"""The `ambient-flow` command line: live, replay, record, send, synth, inspect, status."""

from ambient_flow.cli.main import main

__all__ = ["main"]
