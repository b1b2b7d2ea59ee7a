"""What the operators know about models: narrow interfaces and typed results.

The operators (speech analysis, the model stage, attribution) depend only on this
package; the implementations live above them in `ambient_flow.backends` and are chosen
by `backends.registry` from the settings. Nothing here imports a model library.

```
identity.py       ModelIdentity: which weights and options made a result
lazy.py           LazyModel: load once, on first use or at start-up (the one template)
vad.py            SpeechProbability / VadStream: speech probability per 32 ms block
transcription.py  Transcriber -> Transcript (segments, words, confidence)
diarization.py    Diarizer / DiarizationStream -> DiarizationStep (speaker segments)
detection.py      Detector -> Detection
bundle.py         Models: the four a host loads, together
warmup.py         one call per model on synthetic input at start-up
```
"""

from ambient_flow.models.bundle import Models
from ambient_flow.models.detection import Detection, Detector, detections_to_dicts
from ambient_flow.models.diarization import (
    DiarizationStep,
    DiarizationStream,
    Diarizer,
    SpeakerSegment,
    StepRequest,
)
from ambient_flow.models.identity import ModelIdentity
from ambient_flow.models.lazy import LazyModel, Model
from ambient_flow.models.transcription import Segment, Transcriber, Transcript, Word
from ambient_flow.models.vad import SpeechProbability, VadStream

__all__ = [
    "Detection",
    "Detector",
    "DiarizationStep",
    "DiarizationStream",
    "Diarizer",
    "LazyModel",
    "Model",
    "ModelIdentity",
    "Models",
    "Segment",
    "SpeakerSegment",
    "SpeechProbability",
    "StepRequest",
    "Transcriber",
    "Transcript",
    "VadStream",
    "Word",
    "detections_to_dicts",
]
