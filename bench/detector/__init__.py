"""`python -m bench.detector`: how often the default detector invents people, and how often
it finds real ones (see `bench.detector.measure`, or `--help`).

```
evalset.py   builds the labelled set (seeded, byte-identical run to run) and writes it
draw.py      what every frame is made of: its record, colours, text, gradients, noise, JPEG
negatives.py generated frames without people (sender patterns, bars, text, UI, ...)
photos.py    package-shipped photos and a street video: hand labels, provenance, licences
figures.py   drawn pedestrians (measured, weighted as nothing)
measure.py   the real OpenCVDetector on every frame, defaults before issue 9 and now
assets.sh    the real photos, from packages only (PyPI wheels, one Debian package)
```
"""
