"""The four models a host loads, together: what the enrichment graph is built with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ambient_flow.models.detection import Detector
from ambient_flow.models.diarization import Diarizer
from ambient_flow.models.lazy import Model
from ambient_flow.models.transcription import Transcriber
from ambient_flow.models.vad import SpeechProbability

__all__ = ["Models"]


@dataclass(frozen=True)
class Models:
    """The loaded backends one process shares between all clients.

    Built from settings by `backends.registry.build_models`, or by hand in tests (the
    fakes in `ambient_flow.testing.fakes` implement the same interfaces).
    """

    vad: SpeechProbability
    transcriber: Transcriber
    diarizer: Diarizer
    detector: Detector | None = None

    def roles(self) -> dict[str, Model]:
        """Each model by its role (`vad`, `transcriber`, `diarizer`, `detector`)."""
        roles: dict[str, Model] = {
            "vad": self.vad,
            "transcriber": self.transcriber,
            "diarizer": self.diarizer,
        }
        if self.detector is not None:
            roles["detector"] = self.detector
        return roles

    def load(self) -> None:
        """Load every model now (a bad path fails here, before any traffic)."""
        for model in self.roles().values():
            model.load()

    def identities(self) -> dict[str, dict[str, Any]]:
        """What was loaded (path, sha256, options), for `models.json` and status."""
        return {role: model.identity.to_dict() for role, model in self.roles().items()}
