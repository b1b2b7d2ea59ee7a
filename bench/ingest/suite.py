"""Ingest benchmark of the live Bytewax flow (a script, not a test).

    python -m bench.ingest            # full run, about 10 minutes
    python -m bench.ingest --quick    # under 2 minutes
    python -m bench.ingest --json     # machine-readable (every raw repeat included)
    python -m bench.ingest --only throughput --only latency

Sections: idle CPU; throughput of audio/video envelopes against a plain pyzmq PULL
loop and a same-work peer (and with -w 2); imagezmq on the same JPEGs; arrival latency
over ZeroMQ and raw TCP; ingest stall behind a slow step (inline map vs offload); replay
speed; many real-time clients (and with -w 2); the host as 1 process, -w 2 and 2
processes (-i/-a). Senders are separate processes; every socket is on 127.0.0.1 with a free
port; every loop is bounded; a section that fails is reported and the run goes on.
See bench/README.md.
"""

from __future__ import annotations

from bench.core.runner import Section, Suite
from bench.ingest.clients import clients, clients_w2
from bench.ingest.latency import latency, stall
from bench.ingest.plan import Plan
from bench.ingest.replay import replay
from bench.ingest.report import BODIES, TITLES
from bench.ingest.scaleout import scaleout
from bench.ingest.throughput import idle, imagezmq_peer, throughput

__all__ = ["SUITE"]

_RUNS = (
    ("idle", idle),
    ("throughput", throughput),
    ("imagezmq", imagezmq_peer),
    ("latency", latency),
    ("stall", stall),
    ("replay", replay),
    ("clients", clients),
    ("clients_w2", clients_w2),
    ("scaleout", scaleout),
)

SUITE = Suite(
    name="ingest",
    description=__doc__ or "",
    heading="ingest benchmark",
    note=(
        "note: senders, peers and the host share these cores; figures are medians of repeats,",
        "      ratios are against a peer measured in the same run.",
    ),
    sections=tuple(Section(n, run, TITLES[n], BODIES[n]) for n, run in _RUNS),
    plan=Plan.of,
)
