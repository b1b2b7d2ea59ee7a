"""What both benchmarks share.

```
runner.py   Suite/Section: the CLI, the sections run in order (a failing one is reported
            in place), the JSON result
report.py   the readable report's frame (heading, one block per section, FAILED/skipped,
            totals) and its number formats
host.py     BenchHost: the live graph in a thread without the test harness's collect-all
            tap; Tap, LatencyTap
procs.py    SenderGroup (spawned sender processes released together), temp_dir, wait_for
wire.py     for sender processes: envelopes, PUSH sockets, the go signal, on-time sends
stats.py    percentiles, medians, CPU time of this process, load of the whole machine
media.py    PCM chunks and camera-like JPEGs
```
Sender processes import `wire` and `stats` only (the standard library and pyzmq), so they
start fast.
"""
