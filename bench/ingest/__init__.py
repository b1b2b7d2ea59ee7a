"""The ingest benchmark of the live flow: `python -m bench.ingest` (see bench/README.md).

```
suite.py       the sections in run order, their titles, the CLI text
plan.py        Plan: sizes of a full and a quick run
throughput.py  idle CPU; blast throughput vs a plain pyzmq PULL; imagezmq
latency.py     send -> ingest latency over ZeroMQ and raw TCP; ingest stall behind a slow step
clients.py     many real-time clients: the largest level with nothing lost
replay.py      replay speed of a generated capture
senders.py     the sender processes (stdlib + pyzmq)
report.py      the readable lines of each section
```
"""
