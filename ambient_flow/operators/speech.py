"""Per-client audio analysis: speech probability, utterances and diarization windows.

One stateful step per client turns ordered 16 kHz audio (ingest's output) into:

- `UtteranceAudio`: speech bounded by `UtteranceSegmenter`, with its samples, for
  transcription;
- `DiarizationWindow`: the last `window_s` of audio every `step_s` of audio, with the
  per-block speech mask, for the diarizer;
- `PlacedVideoFrame`: each video frame with its position on the audio timeline, mapped
  through the client's `ts` clock (video carries only `ts`);
- the client's session events, passed through.

Everything leaves in one ordered stream per client, so the model stage after it can
keep that order and the join after that sees the same sequence on every replay.

Everything is decided on the sample clock. The speech model (a `SpeechProbability`:
Silero or the energy VAD) only supplies a probability per 32 ms block and runs inline:
it costs well under a millisecond per 100 ms chunk, less than handing it to a thread
would. A client's state (audio ring, VAD stream, segmenter) lives from its
`session_start` to its `session_end` and is then released: memory follows the open
sessions, not every client ever seen.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from bytewax.operators import StatefulLogic
from typing_extensions import override

from ambient_flow.models.vad import SpeechProbability
from ambient_flow.operators.events import ClientEvent
from ambient_flow.operators.ringbuffer import AudioRing
from ambient_flow.operators.segmenter import SegmenterOptions, Utterance, UtteranceSegmenter
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE as SR
from ambient_flow.protocol.messages import AudioChunk, VideoFrame

__all__ = [
    "AnalysisInput",
    "AnalysisItem",
    "AnalysisOptions",
    "DiarizationWindow",
    "PlacedVideoFrame",
    "SpeechAnalysisLogic",
    "UtteranceAudio",
    "analysis_builder",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
#: Longest stretch of one chunk analysed at once (samples): far below the ring's length.
_PIECE = SR


@dataclass(frozen=True, slots=True, eq=False)
class UtteranceAudio:
    """One utterance of one client, with its samples, ready for transcription."""

    client: str
    session: str
    start_sample: int
    end_sample: int
    samples: FloatArray
    reason: str
    started_ns: int  # arrival time of the chunk holding the first sample
    ended_ns: int  # arrival time of the chunk that let the segmenter close it

    @property
    def duration_s(self) -> float:
        return (self.end_sample - self.start_sample) / SR


@dataclass(frozen=True, slots=True, eq=False)
class DiarizationWindow:
    """The last `window_s` of one client's audio, due for a diarization step."""

    client: str
    session: str
    start_sample: int
    end_sample: int
    samples: FloatArray
    speech: npt.NDArray[np.bool_]  # one flag per `block_samples` block of the window
    block_samples: int
    received_ns: int  # arrival of the chunk that completed the window


@dataclass(frozen=True, slots=True)
class PlacedVideoFrame:
    """A video frame and where it falls on the audio timeline (None before any audio)."""

    frame: VideoFrame
    session: str
    sample: int | None


AnalysisItem = UtteranceAudio | DiarizationWindow | PlacedVideoFrame | ClientEvent
AnalysisInput = AudioChunk | VideoFrame | ClientEvent


@dataclass(frozen=True)
class AnalysisOptions:
    segmenter: SegmenterOptions = field(default_factory=SegmenterOptions)
    window_s: float = 5.0
    step_s: float = 0.5
    #: Re-anchor video to audio when the client's `ts` drifts this far from the samples.
    anchor_tolerance_ms: float = 250.0

    def __post_init__(self) -> None:
        if not 0 < self.step_s <= self.window_s:
            raise ValueError("need 0 < step_s <= window_s")


class SpeechAnalysisLogic(StatefulLogic[AnalysisInput, AnalysisItem, None]):
    """Per-client: VAD per block, utterances, diarization windows, placed video frames."""

    def __init__(self, model: SpeechProbability, options: AnalysisOptions) -> None:
        self._model = model
        self._opt = options
        self._block = model.block_samples
        self._window = int(options.window_s * SR)
        self._step = int(options.step_s * SR)
        seg = options.segmenter
        keep = int((seg.max_utterance_s + seg.pre_roll_s + 2.0) * SR)
        self._ring_capacity = max(keep, self._window + self._step)
        self.client = ""
        self.session = ""
        self._reset(0)

    def _reset(self, position: int) -> None:
        self._stream = self._model.new_stream()
        self._segmenter = UtteranceSegmenter(self._opt.segmenter)
        self.ring = AudioRing(self._ring_capacity, position)
        self._carry = np.zeros(0, np.float32)
        self._carry_start = position
        self._grid0 = position  # VAD blocks start at grid0 + k * block
        self._probs: deque[tuple[int, float]] = deque(maxlen=self._window // self._block + 4)
        self._arrivals: deque[tuple[int, int]] = deque(maxlen=4096)  # (start_sample, ns)
        self._next_window = position + self._step
        self._anchor: tuple[int, int] | None = None

    # -- Bytewax hooks ----------------------------------------------------------------
    @override
    def on_item(self, value: AnalysisInput) -> tuple[Iterable[AnalysisItem], bool]:
        if isinstance(value, ClientEvent):
            out = self._event(value)
            # The session is over: release this client's audio and model state now.
            done = value.kind == "session_end"
            return out, StatefulLogic.DISCARD if done else StatefulLogic.RETAIN
        if isinstance(value, VideoFrame):
            return [PlacedVideoFrame(value, self.session, self._place(value))], StatefulLogic.RETAIN
        return self._audio(value), StatefulLogic.RETAIN

    @override
    def on_eof(self) -> tuple[Iterable[AnalysisItem], bool]:
        return self._flush(self._last_ns()), StatefulLogic.DISCARD

    @override
    def snapshot(self) -> None:
        # Model stream state and audio are caches of the last seconds; after a recovery
        # the step starts fresh at the next session (documented in docs/frames.md).
        return None

    # -- events -----------------------------------------------------------------------
    def _event(self, event: ClientEvent) -> list[AnalysisItem]:
        self.client = event.client
        out: list[AnalysisItem] = []
        if event.kind == "session_start":
            out += self._flush(event.at_ns)
            self.session = event.session
            self._reset(int(event.data.get("start_sample", 0)))
        elif event.kind in ("stale", "session_end"):
            out += self._flush(event.at_ns)
        out.append(event)
        return out

    def _flush(self, at_ns: int) -> list[AnalysisItem]:
        return [self._utterance(u, at_ns) for u in self._segmenter.flush()]

    def _last_ns(self) -> int:
        return self._arrivals[-1][1] if self._arrivals else 0

    # -- audio ------------------------------------------------------------------------
    def _audio(self, chunk: AudioChunk) -> list[AnalysisItem]:
        out: list[AnalysisItem] = []
        start = chunk.start_sample if chunk.start_sample is not None else self.ring.end
        self.client = chunk.client
        if start != self.ring.end:  # not contiguous (state was reset); start over there
            out += self._flush(chunk.received_ns)
            self._reset(start)
        if not chunk.filled:
            self._maybe_anchor(chunk, start)
        # A chunk longer than the ring (a long gap filled with silence) is taken a second
        # at a time, so every utterance and window is cut while its audio is still held.
        if chunk.num_samples <= _PIECE:
            return out + self._piece(chunk, start)
        for offset in range(0, chunk.num_samples, _PIECE):
            piece = chunk.samples[offset : offset + _PIECE]
            out += self._piece(
                replace(chunk, samples=piece, start_sample=start + offset, pcm=None),
                start + offset,
            )
        return out

    def _piece(self, chunk: AudioChunk, start: int) -> list[AnalysisItem]:
        out: list[AnalysisItem] = []
        self._arrivals.append((start, chunk.received_ns))
        self.ring.write(chunk.samples)
        out += self._blocks(chunk, start)
        while self.ring.end >= self._next_window:
            out.append(self._window_item(self._next_window, chunk.received_ns))
            self._next_window += self._step
        return out

    def _maybe_anchor(self, chunk: AudioChunk, start: int) -> None:
        """Keep the (sample, ts) pair that maps the client's clock onto the samples.

        Re-anchored only when `ts` drifts from the sample clock (a restart, a paused
        microphone), so small network jitter does not move the video.
        """
        if self._anchor is not None:
            sample0, ts0 = self._anchor
            expected_ts = ts0 + (start - sample0) * 1000 / SR
            if abs(chunk.timestamp_ms - expected_ts) <= self._opt.anchor_tolerance_ms:
                return
        self._anchor = (start, chunk.timestamp_ms)

    def _place(self, frame: VideoFrame) -> int | None:
        if self._anchor is None:
            return None
        sample0, ts0 = self._anchor
        return max(0, sample0 + round((frame.timestamp_ms - ts0) * SR / 1000))

    def _blocks(self, chunk: AudioChunk, start: int) -> list[AnalysisItem]:
        samples = np.concatenate([self._carry, chunk.samples])
        first = self._carry_start
        n = samples.shape[0] // self._block
        self._carry = samples[n * self._block :].copy()
        self._carry_start = first + n * self._block
        if n == 0:
            return []
        blocks = samples[: n * self._block].reshape(n, self._block)
        if chunk.filled and not self._carry.size and first == start:
            probs = np.zeros(n, np.float32)  # inserted silence: no need to ask the model
        else:
            probs = self._stream.probabilities(blocks)
        out: list[AnalysisItem] = []
        for i in range(n):
            block_start = first + i * self._block
            p = float(probs[i])
            self._probs.append((block_start, p))
            for utt in self._segmenter.push(block_start, p):
                out.append(self._utterance(utt, chunk.received_ns))
        return out

    def _utterance(self, utt: Utterance, ended_ns: int) -> UtteranceAudio:
        start = max(utt.start_sample, self.ring.start)
        end = min(utt.end_sample, self.ring.end)
        started_ns = next((ns for s, ns in reversed(self._arrivals) if s <= start), self._last_ns())
        return UtteranceAudio(
            client=self.client,
            session=self.session,
            start_sample=start,
            end_sample=end,
            samples=self.ring.range(start, end),
            reason=utt.reason,
            started_ns=started_ns,
            ended_ns=ended_ns,
        )

    def _window_item(self, end: int, received_ns: int) -> DiarizationWindow:
        b = self._block
        n_blocks = (end - max(self.ring.start, end - self._window)) // b
        start = end - n_blocks * b
        # The window's blocks need not line up with the VAD's block grid: each takes the
        # probability of the VAD block holding its midpoint (not yet judged: silence).
        probs = dict(self._probs)
        threshold = self._opt.segmenter.threshold
        mids = start + np.arange(n_blocks) * b + b // 2
        grid = self._grid0 + ((mids - self._grid0) // b) * b
        speech = np.array([probs.get(int(g), 0.0) >= threshold for g in grid], dtype=np.bool_)
        return DiarizationWindow(
            client=self.client,
            session=self.session,
            start_sample=start,
            end_sample=end,
            samples=self.ring.range(start, end),
            speech=speech,
            block_samples=b,
            received_ns=received_ns,
        )


def analysis_builder(
    model: SpeechProbability, options: AnalysisOptions
) -> Callable[[Any], SpeechAnalysisLogic]:
    """Builder for `op.stateful`: one logic per client session, sharing the loaded model."""

    def build(_state: Any) -> SpeechAnalysisLogic:
        return SpeechAnalysisLogic(model, options)

    return build
