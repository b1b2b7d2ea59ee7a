"""What the online turn tracker (`backends.turns.TurnTracker`) is given and what each of
its steps decides: plain frozen values."""

from __future__ import annotations

from dataclasses import dataclass, field

from ambient_flow.backends.recluster import ReclusterOptions
from ambient_flow.models.diarization import ChangeHint, SpeakerRelabel, SpeakerSegment
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE as SAMPLE_RATE

__all__ = ["StepResult", "TrackerOptions"]


@dataclass(frozen=True)
class TrackerOptions:
    """Knobs of the online tracker (seconds; cosine distances; chosen on the dev set).

    Attributes:
        block_samples: VAD block size (512).
        pause_split_s: A pause at least this long ends an island.
        embed_s: Newest seconds of the island's speech embedded per step.
        min_embed_s: An island with less speech is not embedded yet (its speech waits a
            step, or takes its neighbour's label if the island ends that short).
        join_threshold: A unit this close to a centroid joins that speaker.
        new_threshold: Farther than this from every centroid: a candidate new voice.
        candidate_threshold: Consecutive candidates closer than this are one voice.
        min_new_speaker_s: Candidate speech needed to open a new speaker.
        continuity_margin: Within an island, keep the previous unit's speaker when its
            distance is within this of the best one.
        max_speakers: Most speakers per session.
        num_speakers: Known speaker count (None: estimated).
        recluster: The session-level pass (None turns it off).
        min_units_recluster: Units needed before the session pass runs.
        hint_margin: A change hint needs both new units this much closer to the new
            speaker's centroid than to the old one's.
        turn_edges: Online, at once: when a unit's label differs from the previous
            unit's in the same island and it lies closer to its speaker's centroid than
            the previous unit did to its own, the previous unit's speech takes its label
            (a `turn_edge` relabel, 0.5 s after the first label). The previous unit's
            1 s embedding straddled the change; this one covers that speech alone.
            The session pass does the same over its window (`ReclusterOptions.turn_edges`).
        edge_reach_s: A relabel with no unit before (after) it reaches this far before
            (after) its speech, for words timed just outside it.
        max_blocks: Speech blocks remembered (the island being embedded lies in them).
    """

    block_samples: int = 512
    pause_split_s: float = 0.25
    embed_s: float = 1.0
    min_embed_s: float = 0.3
    join_threshold: float = 0.2
    new_threshold: float = 0.3
    candidate_threshold: float = 0.3
    min_new_speaker_s: float = 1.0
    continuity_margin: float = 0.03
    max_speakers: int = 8
    num_speakers: int | None = None
    recluster: ReclusterOptions | None = field(default_factory=ReclusterOptions)
    min_units_recluster: int = 6
    hint_margin: float = 0.05
    turn_edges: bool = True
    edge_reach_s: float = 0.5
    max_blocks: int = 512

    def __post_init__(self) -> None:
        if not 0.0 < self.join_threshold <= self.new_threshold < 2.0:
            raise ValueError("need 0 < join_threshold <= new_threshold < 2")
        if not 0.0 < self.min_embed_s <= self.embed_s:
            raise ValueError("need 0 < min_embed_s <= embed_s")
        if self.max_speakers < 1:
            raise ValueError("max_speakers must be >= 1")
        if self.num_speakers is not None and not 1 <= self.num_speakers <= self.max_speakers:
            raise ValueError("num_speakers must be in [1, max_speakers]")
        if self.block_samples <= 0 or self.pause_split_s <= 0 or self.min_new_speaker_s < 0:
            raise ValueError("block_samples and pause_split_s must be > 0")
        if self.max_blocks < self.samples(self.embed_s) // self.block_samples + 2:
            raise ValueError("max_blocks must hold at least embed_s of blocks")

    def samples(self, seconds: float) -> int:
        return round(seconds * SAMPLE_RATE)

    @property
    def cap(self) -> int:
        """Most speakers to hold at once."""
        return self.num_speakers if self.num_speakers is not None else self.max_speakers


@dataclass(frozen=True)
class StepResult:
    """What one step decided (see `DiarizationStep` for the meaning of each field)."""

    segments: tuple[SpeakerSegment, ...]
    relabels: tuple[SpeakerRelabel, ...]
    hints: tuple[ChangeHint, ...]
    new_speakers: tuple[str, ...]
    speakers: tuple[str, ...]
