"""Online speaker clustering: one embedding per step in, one stable speaker index out.

The embedded diarizer turns each 0.5 s step into at most one speaker embedding (the most
recent ~1 s of speech). This module decides which speaker that embedding belongs to,
online and without look-ahead, so that the index of a speaker never changes for the
rest of a client's session:

- the first embedding with enough speech opens speaker 0;
- an embedding within `threshold` (cosine distance) of the nearest centroid joins it
  and moves that centroid (a running mean weighted by seconds of speech);
- an embedding farther than `threshold` from every centroid is held as a *candidate*;
  only when candidates worth `min_new_speaker_s` of new speech arrive in a row, close to
  each other, is a new speaker opened (one odd embedding at a turn boundary, where the
  ~1 s look-back still mixes two voices, must not create a speaker);
- at `max_speakers` (or the known `num_speakers`) nothing new opens: the nearest wins.

Why not diart's `OnlineSpeakerClustering`: with resemblyzer embeddings (non-negative,
L2-normalised) cosine distances stay far below its default `delta_new=1.0`, so it never
opens a second speaker, and with one embedding per step its assignment problem reduces
to the nearest-centroid rule above anyway (see STACK.md).

The default values were chosen by `tests/backends/tune_cluster.py` on generated
espeak-ng dialogues (never on the clip the evaluation uses); that script's docstring
records the grid and the DER measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ambient_flow.errors import ConfigError

__all__ = ["Assignment", "CentroidClusterer", "ClusterOptions"]

Embedding = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ClusterOptions:
    """Settings of the online centroid clusterer.

    Attributes:
        threshold: Cosine distance (1 - cosine similarity) under which an embedding joins
            the nearest speaker. resemblyzer's scale is narrow (cosine similarity ~0.74-0.80
            within a voice vs ~0.63-0.73 between voices on 1-1.5 s chunks, STACK.md).
        min_new_speaker_s: Seconds of speech, accumulated over consecutive far-away steps,
            needed before a new speaker opens.
        candidate_threshold: Cosine distance under which consecutive candidate embeddings
            count as one new voice (otherwise the candidate restarts from the newest one).
        max_centroid_weight_s: The running mean remembers at most this many seconds: older
            speech is down-weighted so a centroid can follow a voice that drifts (0 = never
            forget).
        max_speakers: Hard cap on the number of speakers per session.
        num_speakers: Known number of speakers, when the user gives one: speakers open
            (with the same evidence rule) until there are this many, then the nearest wins.
    """

    threshold: float = 0.16
    min_new_speaker_s: float = 2.0
    candidate_threshold: float = 0.25
    max_centroid_weight_s: float = 0.0
    max_speakers: int = 8
    num_speakers: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 2.0:
            raise ConfigError(f"cluster threshold must be in (0, 2), got {self.threshold}")
        if not 0.0 < self.candidate_threshold < 2.0:
            raise ConfigError(
                f"cluster candidate_threshold must be in (0, 2), got {self.candidate_threshold}"
            )
        if self.min_new_speaker_s < 0.0:
            raise ConfigError(f"min_new_speaker_s must be >= 0, got {self.min_new_speaker_s}")
        if self.max_centroid_weight_s < 0.0:
            raise ConfigError(
                f"max_centroid_weight_s must be >= 0, got {self.max_centroid_weight_s}"
            )
        if self.max_speakers < 1:
            raise ConfigError(f"max_speakers must be >= 1, got {self.max_speakers}")
        if self.num_speakers is not None and not 1 <= self.num_speakers <= self.max_speakers:
            raise ConfigError(
                f"num_speakers must be in [1, max_speakers={self.max_speakers}], "
                f"got {self.num_speakers}"
            )

    @property
    def speaker_cap(self) -> int:
        """How many speakers may exist at most (the known count, else `max_speakers`)."""
        return self.num_speakers if self.num_speakers is not None else self.max_speakers

    def to_dict(self) -> dict[str, Any]:
        """Plain values for session metadata."""
        return {
            "threshold": self.threshold,
            "min_new_speaker_s": self.min_new_speaker_s,
            "candidate_threshold": self.candidate_threshold,
            "max_centroid_weight_s": self.max_centroid_weight_s,
            "max_speakers": self.max_speakers,
            "num_speakers": self.num_speakers,
        }


@dataclass(frozen=True)
class Assignment:
    """Where one embedding went.

    Attributes:
        speaker: Index of the speaker (0, 1, ...), stable for the clusterer's lifetime.
        distance: Cosine distance from the embedding to that speaker's centroid (before
            the update).
        opened: True when this embedding opened the speaker.
        provisional: True when the embedding was far from every centroid but not yet
            enough evidence had piled up to open a new speaker; the nearest one was used.
    """

    speaker: int
    distance: float
    opened: bool
    provisional: bool


def _unit(vector: npt.NDArray[np.floating[Any]]) -> Embedding:
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("embedding has zero or non-finite norm")
    return np.asarray(vector / norm, dtype=np.float32)


@dataclass
class CentroidClusterer:
    """Per-session online clusterer (keep one per client; it is the speaker memory).

    Not thread-safe: one stream's steps are sequential by construction.
    """

    options: ClusterOptions = field(default_factory=ClusterOptions)
    _sums: list[npt.NDArray[np.float64]] = field(default_factory=list, repr=False)
    _weights: list[float] = field(default_factory=list, repr=False)
    _candidate_sum: npt.NDArray[np.float64] | None = field(default=None, repr=False)
    _candidate_weight: float = field(default=0.0, repr=False)

    @property
    def num_speakers(self) -> int:
        """How many speakers have been opened so far."""
        return len(self._sums)

    def centroids(self) -> npt.NDArray[np.float32]:
        """Unit-norm centroids, shape (speakers, dim) (empty (0, 0) before the first)."""
        if not self._sums:
            return np.zeros((0, 0), np.float32)
        return np.stack([_unit(s) for s in self._sums])

    def assign(self, embedding: npt.ArrayLike, speech_s: float) -> Assignment | None:
        """Assign one embedding covering `speech_s` seconds of new speech.

        Args:
            embedding: One speaker embedding (any norm; normalised here).
            speech_s: Seconds of speech this embedding stands for; weights the centroid
                update and the new-speaker evidence.

        Returns:
            The assignment, or None before the first speaker has enough speech to open.

        Raises:
            ValueError: The embedding is not a finite, non-zero vector of the right size.
        """
        vector = _unit(np.asarray(embedding, dtype=np.float64).reshape(-1))
        if speech_s <= 0.0:
            raise ValueError(f"speech_s must be > 0, got {speech_s}")
        if self._sums and vector.shape[0] != self._sums[0].shape[0]:
            raise ValueError(
                f"embedding has {vector.shape[0]} dims, centroids have {self._sums[0].shape[0]}"
            )
        opts = self.options
        if not self._sums:
            return self._evidence_for_new(vector, speech_s, nearest=None, distance=0.0)

        distances = 1.0 - self.centroids() @ vector
        best = int(np.argmin(distances))
        best_distance = float(distances[best])
        if best_distance <= opts.threshold or self.num_speakers >= opts.speaker_cap:
            self._reset_candidate()
            self._update(best, vector, speech_s)
            return Assignment(best, best_distance, opened=False, provisional=False)
        return self._evidence_for_new(vector, speech_s, nearest=best, distance=best_distance)

    def _evidence_for_new(
        self, vector: Embedding, speech_s: float, nearest: int | None, distance: float
    ) -> Assignment | None:
        opts = self.options
        if self._candidate_sum is not None:
            candidate = _unit(self._candidate_sum)
            if 1.0 - float(candidate @ vector) > opts.candidate_threshold:
                self._reset_candidate()
        if self._candidate_sum is None:
            self._candidate_sum = np.zeros(vector.shape[0], np.float64)
        self._candidate_sum += vector * speech_s
        self._candidate_weight += speech_s
        if self._candidate_weight + 1e-9 >= opts.min_new_speaker_s:
            self._sums.append(self._candidate_sum)
            self._weights.append(self._candidate_weight)
            self._candidate_sum, self._candidate_weight = None, 0.0
            return Assignment(self.num_speakers - 1, distance, opened=True, provisional=False)
        if nearest is None:
            return None
        return Assignment(nearest, distance, opened=False, provisional=True)

    def _reset_candidate(self) -> None:
        self._candidate_sum, self._candidate_weight = None, 0.0

    def _update(self, speaker: int, vector: Embedding, speech_s: float) -> None:
        cap = self.options.max_centroid_weight_s
        weight = self._weights[speaker]
        if cap > 0.0 and weight + speech_s > cap:
            # Keep the running mean's memory at `cap` seconds: scale the old sum down.
            keep = max(cap - speech_s, 0.0) / weight
            self._sums[speaker] *= keep
            weight *= keep
        self._sums[speaker] = self._sums[speaker] + vector * speech_s
        self._weights[speaker] = weight + speech_s
