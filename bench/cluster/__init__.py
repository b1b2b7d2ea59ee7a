"""Two hosts in two network namespaces on this machine: a Bytewax cluster, and the
design that survives losing a host (root needed; everything it makes it removes).

    sudo .venv/bin/python -m bench.cluster            # ~3 min
    sudo .venv/bin/python -m bench.cluster --quick    # ~1.5 min
    python -m bench.cluster --only kill --clients 100 --seconds 6 --out r.json

```
netns.py     the namespaces and the veth pair between them; stale ones removed by prefix
load.py      a load process inside a namespace: real-time clients with a host list (failover)
sessions.py  what the hosts wrote, read back from their session directories
run.py       the phases: cluster, kill (one member of the cluster), failover (independent
             hosts, one killed), capacity (one host, the cluster, two independent hosts)
main.py      the command line, clean-up on any exit (Ctrl-C, SIGTERM), the JSON
report.py    the text report
```
A host is `bench.core.hostproc.HostProcess` (`python -m bytewax.run flows.live` in a
namespace, bound to its address). See docs/cluster.md for what the figures show and how
to run N machines.
"""
