"""The speech benchmark: who said what, on real and generated conversation (issue 11).

```
suite.py     the sections in order, titles, CLI text
context.py   Plan (full / quick), Ctx: the models loaded once, the sets' folder
voices.py    espeak-ng talkers: voices, lines, rendering (cached)
devset.py    the seeded dev / held-out sets (rooms, far-field talkers, overlap, noise)
measure.py   each clip through the replay graph, scored as a consumer reads it; set totals
live.py      real-time runs: end of speech -> transcript, speaker labels, the call live
report.py    each section's lines
real_call.txt  our transcript of pyannote's sample.wav (its wheel has the audio and RTTM)
```
"""
