"""Per-client utterances that end where a turn ends, after the diarizer has spoken.

Runs after the diarization stage, on one ordered stream per client: the VAD's blocks
(`SpeechChunk`, with their audio) and the diarizer's steps (`Diarized`, with its change
hints) arrive in stream order (the blocks of a chunk, then the step that chunk
completed), so the `UtteranceSegmenter` closes an utterance at silence, at the maximum
length, or at a confident speaker change, the same way on every run. Bytewax graphs
are acyclic: this is why the segmenter sits after the diarizer and not beside the VAD.

A closed utterance is held until the diarizer has decided the speech up to its end (the
step that covers it has passed here), so its words find the turns they were spoken in:
an utterance that closes at silence would otherwise reach the attribution before the
labels of its last words (the first words of a session had no speaker at all, and a new
voice's first short reply took the previous speaker's label). The wait is at most one
step (0.5 s of audio), and never more than `HOLD_S` of audio past the utterance's end (a
step dropped live, or a diarizer that decides late: diart); flushes release everything.

Each utterance carries up to `context_s` of the stream's audio before it (whatever it
holds: speech of any speaker, pauses, noise) as left context for the decoder: tiny.en
transcribes a 2 s reply better after hearing what led to it. It comes from this ring,
so it depends only on the stream, and never reaches before the session's (or a timeline
jump's) first sample.

Out: `UtteranceAudio` (the samples, for transcription) and everything else passed on in
order (a step before the utterances it releases). The state (an audio ring of
`max_utterance_s` + pre-roll + `context_s` + 2 s, the segmenter, the last speaker
segments, the closed utterances still waiting) lives from `session_start` to
`session_end`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from bytewax.operators import StatefulLogic
from typing_extensions import override

from ambient_flow.models.diarization import apply_relabels
from ambient_flow.operators.model_stage import Detected, Diarized, Passed
from ambient_flow.operators.ringbuffer import AudioRing
from ambient_flow.operators.segmenter import SegmenterOptions, Utterance, UtteranceSegmenter
from ambient_flow.operators.speech import SpeechChunk, UtteranceAudio
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE as SR

__all__ = ["HOLD_S", "Heard", "UtteranceItem", "UtteranceLogic", "utterance_builder"]

#: What reaches this step (the diarization stage's output) and what leaves it.
Heard = SpeechChunk | Diarized | Detected | Passed
UtteranceItem = UtteranceAudio | Diarized | Detected | Passed

#: Speaker segments remembered for an utterance's speaker (seconds of stream).
_SPEAKERS_S = 40
#: A closed utterance waits for the diarizer at most this much audio past its end (s).
HOLD_S = 1.0


class UtteranceLogic(StatefulLogic[Heard, UtteranceItem, None]):
    """Per client session: the audio ring and the turn-aware segmenter."""

    def __init__(self, options: SegmenterOptions, context_s: float = 0.0) -> None:
        if context_s < 0:
            raise ValueError(f"context_s must be >= 0, got {context_s}")
        self._opt = options
        self._context = round(context_s * SR)
        held = options.max_utterance_s + options.pre_roll_s + context_s + 2.0
        self._capacity = round(held * SR)
        self.client = ""
        self.session = ""
        self.dropped_short = 0
        self._reset(0)

    def _reset(self, position: int) -> None:
        self._segmenter = UtteranceSegmenter(self._opt)
        self.ring = AudioRing(self._capacity, position)
        self._arrivals: deque[tuple[int, int]] = deque(maxlen=4096)  # (start_sample, ns)
        self._speakers: deque[Any] = deque()  # recent SpeakerSegments, relabels applied
        self._decided = position  # the diarizer has decided the speech before this sample
        self._held: deque[UtteranceAudio] = deque()  # closed, waiting for their speakers

    # -- Bytewax hooks ----------------------------------------------------------------
    @override
    def on_item(self, value: Heard) -> tuple[Iterable[UtteranceItem], bool]:
        if isinstance(value, SpeechChunk):
            return self._chunk(value), StatefulLogic.RETAIN
        if isinstance(value, Diarized):
            return [value, *self._diarized(value)], StatefulLogic.RETAIN
        if isinstance(value, Detected):
            return [value], StatefulLogic.RETAIN
        event = value.item
        self.client = event.client
        out: list[UtteranceItem] = []
        if event.kind == "session_start":
            out += self._flush(event.at_ns)
            self.session = event.session
            self._reset(int(event.data.get("start_sample", 0)))
        elif event.kind in ("stale", "session_end"):
            out += self._flush(event.at_ns)
        out.append(value)
        done = event.kind == "session_end"
        return out, StatefulLogic.DISCARD if done else StatefulLogic.RETAIN

    @override
    def on_eof(self) -> tuple[Iterable[UtteranceItem], bool]:
        last = self._arrivals[-1][1] if self._arrivals else 0
        return self._flush(last), StatefulLogic.DISCARD

    @override
    def snapshot(self) -> None:
        return None  # a cache of the last seconds, like the speech step's

    # -- inputs ---------------------------------------------------------------------------
    def _chunk(self, chunk: SpeechChunk) -> list[UtteranceItem]:
        out: list[UtteranceItem] = []
        self.client = chunk.client
        if chunk.start_sample != self.ring.end:  # not contiguous: start over there
            out += self._flush(chunk.received_ns)
            self._reset(chunk.start_sample)
        self._arrivals.append((chunk.start_sample, chunk.received_ns))
        self.ring.write(chunk.samples)
        blocks = chunk.blocks
        if blocks is not None:
            for i, p in enumerate(blocks.probabilities):
                start = blocks.start_sample + i * blocks.block_samples
                for utt in self._segmenter.push(start, float(p)):
                    self._held.append(self._utterance(utt, chunk.received_ns))
        return out + self._release(chunk.received_ns)

    def _diarized(self, result: Diarized) -> list[UtteranceItem]:
        step = result.step
        if step.relabels:
            self._speakers = deque(apply_relabels(list(self._speakers), step.relabels))
        self._speakers.extend(step.segments)
        horizon = step.decided_end_sample - _SPEAKERS_S * SR
        while self._speakers and self._speakers[0].end_sample < horizon:
            self._speakers.popleft()
        self._decided = max(self._decided, step.decided_end_sample)
        for hint in step.change_hints:
            for utt in self._segmenter.hint(hint):
                self._held.append(self._utterance(utt, result.item.received_ns))
        return self._release(result.item.received_ns)

    def _release(self, at_ns: int, everything: bool = False) -> list[UtteranceItem]:
        """The held utterances whose speech the diarizer has decided (or waited long
        enough for), in order, with the speaker known now and the time they left."""
        out: list[UtteranceItem] = []
        waited = self.ring.end - round(HOLD_S * SR)
        while self._held:
            utt = self._held[0]
            if not (everything or utt.end_sample <= self._decided or utt.end_sample <= waited):
                break
            self._held.popleft()
            speaker = self._speaker_of(utt.start_sample, utt.end_sample)
            out.append(replace(utt, ended_ns=max(utt.ended_ns, at_ns), speaker=speaker))
        return out

    def _flush(self, at_ns: int) -> list[UtteranceItem]:
        for u in self._segmenter.flush():
            self._held.append(self._utterance(u, at_ns))
        return self._release(at_ns, everything=True)

    def _utterance(self, utt: Utterance, ended_ns: int) -> UtteranceAudio:
        start = max(utt.start_sample, self.ring.start)
        end = max(start, min(utt.end_sample, self.ring.end))
        before = max(self.ring.start, start - self._context)
        started_ns = next((ns for s, ns in reversed(self._arrivals) if s <= start), ended_ns)
        self.dropped_short = self._segmenter.dropped_short
        return UtteranceAudio(
            client=self.client,
            session=self.session,
            start_sample=start,
            end_sample=end,
            samples=self.ring.range(start, end),
            reason=utt.reason,
            started_ns=started_ns,
            ended_ns=ended_ns,
            speech=tuple((max(a, start), min(b, end)) for a, b in utt.speech if b > start),
            context=self.ring.range(before, start),
        )

    def _speaker_of(self, start: int, end: int) -> str | None:
        cover: dict[str, int] = {}
        for seg in self._speakers:
            overlap = min(seg.end_sample, end) - max(seg.start_sample, start)
            if overlap > 0:
                cover[seg.speaker] = cover.get(seg.speaker, 0) + overlap
        return max(sorted(cover), key=lambda k: cover[k]) if cover else None


def utterance_builder(
    options: SegmenterOptions, context_s: float = 0.0
) -> Callable[[Any], UtteranceLogic]:
    """Builder for `op.stateful`: one logic per client session."""

    def build(_state: Any) -> UtteranceLogic:
        return UtteranceLogic(options, context_s)

    return build
