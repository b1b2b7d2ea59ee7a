"""The enrichment benchmark: `python -m bench.enrich` (see bench/README.md).

```
suite.py          the sections in run order, their titles, the CLI text, --setup-peer
context.py        Plan (full/quick sizes), Ctx (the models, loaded and warmed once)
speech.py         per-client espeak-ng tracks with every phrase's voiced edges
model_timings.py  each model alone: real-time factors
live.py           live_run (one host, senders, PUB listener) and the 1/2/4-client section
capacity.py       the most real-time clients that pass, batching on and off
whisperlive.py    the WhisperLive peer: its venv, its server, the section
offline.py        replay speed with the models; DER/WER/cpWER via `evaluate`
analysis.py       transcripts matched to phrases: latency, WER
senders.py        the sender processes (speech clients, PUB listener, WhisperLive clients)
wl_server.py      WhisperLive's server, run inside its own venv
report.py         the readable lines of each section
```
"""
