"""The four models a host loads, together: what the enrichment graph is built with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ambient_flow.models.detection import Detector
from ambient_flow.models.diarization import Diarizer
from ambient_flow.models.lazy import Model
from ambient_flow.models.transcription import Transcriber
from ambient_flow.models.vad import SpeechProbability
from ambient_flow.models.warmup import (
    run_warm_up,
    warm_detector,
    warm_diarizer,
    warm_transcriber,
    warm_vad,
)

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

    def warm_up(self, role: str, *, window_s: float = 5.0) -> float:
        """Run the model of `role` once on synthetic input (`models.warmup`); its seconds.

        Args:
            role: `vad`, `transcriber`, `diarizer` or `detector` (a key of `roles()`).
            window_s: The diarization window the host runs with.

        Raises:
            StartupError: The model loaded but failed on the test input.
        """
        calls: dict[str, Callable[[], None]] = {
            "vad": lambda: warm_vad(self.vad),
            "transcriber": lambda: warm_transcriber(self.transcriber),
            "diarizer": lambda: warm_diarizer(self.diarizer, window_s),
        }
        detector = self.detector
        if detector is not None:
            calls["detector"] = lambda: warm_detector(detector)
        return run_warm_up(role, calls[role])

    def identities(self) -> dict[str, dict[str, Any]]:
        """What was loaded (path, sha256, options), for `models.json` and status."""
        return {role: model.identity.to_dict() for role, model in self.roles().items()}
