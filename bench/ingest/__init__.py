"""The ingest benchmark of the live flow: `python -m bench.ingest` (see bench/README.md).

```
suite.py       the sections in run order, their titles, the CLI text
plan.py        Plan: sizes of a full and a quick run
throughput.py  idle CPU; blast throughput vs a plain pyzmq PULL and the same-work peer; imagezmq
peer.py        the same-work peer: a plain PULL loop that parses, sequences and writes WAVs
latency.py     send -> ingest latency over ZeroMQ and raw TCP; ingest stall behind a slow step
clients.py     many real-time clients: the largest level with nothing lost (and with -w 2)
scaleout.py    the host as 1 process, -w 2, 2 processes (-i/-a), measured from outside
profile.py     python -m bench.ingest.profile: per-message cost of the ingest graph
replay.py      replay speed of a generated capture
senders.py     the sender processes (stdlib + pyzmq)
report.py      the readable lines of each section
```
"""
