"""Benchmarks of the ambient-flow host (scripts, not tests).

    python -m bench.ingest [--quick] [--json] [--only SECTION]...   # the live ingest graph
    python -m bench.enrich [--quick] [--json] [--only SECTION]...   # the models in the flow
    python -m bench.enrich --setup-peer                             # once: WhisperLive's venv
    python -m bench.detector [--json]                               # the default detector
    python -m bench.ingest.profile                                  # per-message cost (cProfile)
    sudo python -m bench.cluster [--quick]                          # two hosts, two namespaces

```
core/     what both benchmarks share: the runner (CLI, sections in order, JSON), the report
          frame, the in-process host and its taps, sender processes' wire helpers and
          management, statistics, media, temp dirs
ingest/   the ingest benchmark: plan, sections by topic, sender processes, its report
enrich/   the enrichment benchmark: plan and loaded models, speech tracks, sections by
          topic, sender processes, analysis, the WhisperLive peer, its report
detector/ false and found people of the default detector on a labelled set
cluster/  a Bytewax cluster and independent hosts in two network namespaces (docs/cluster.md)
```
See bench/README.md for what each figure measures and why.
"""
