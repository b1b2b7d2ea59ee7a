"""The soak of the live host: `python -m bench.soak` (see bench/README.md). Not a test.

```
run.py      starts `ambient-flow live` and the load processes, samples, prints the verdict
measure.py  RSS, descriptors, disk, the host's status; the trend and the verdict
load.py     the load processes' entry point (`python -m bench.soak.load clients|hostile`)
clients.py  well-behaved clients that come and go (real `ambient_flow.client.Sender`s)
hostile.py  the hostile sender: mutated messages on every port, floods, idle connections
```
"""
