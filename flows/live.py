"""The live host, for `python -m bytewax.run`.

    python -m bytewax.run flows.live                   # settings: AMBIENT_FLOW_* variables
    python -m bytewax.run "flows.live:flow('x.toml')"  # ... or a TOML file
    python -m bytewax.run flows.live -w 2              # -w / -i / -a work as usual

Binds audio PULL :5555, video PULL :5556, control REP :5557 and raw TCP :5558 on all
interfaces by default, loads, checks and warms the models before any port takes
traffic, writes sessions under `data/`, and serves metrics on :9108. A bad setting, a
model that does not load or a port in use ends it with one line and exit status 2.
A first Ctrl-C stops cleanly (sessions flushed); a second one aborts. `ambient-flow
live` runs the same graph with command-line flags and a live status line.
"""

from __future__ import annotations

from bytewax.dataflow import Dataflow

from ambient_flow.graph.host import startup_errors_exit
from ambient_flow.graph.live import live_flow

__all__ = ["flow"]


def flow(config: str | None = None) -> Dataflow:
    """The live dataflow (settings: defaults < `config` or AMBIENT_FLOW_CONFIG < environment)."""
    with startup_errors_exit("python -m bytewax.run flows.live"):
        return live_flow(config)
