"""Per-client audio analysis: what the VAD hears, diarization windows, placed video frames.

One stateful step per client turns ordered 16 kHz audio (ingest's output) into:

- `SpeechChunk`: each chunk's samples with the VAD's verdict on the blocks it completed
  (probability and hysteresis flag), for the utterance segmenter after the diarizer
  (`operators.utterances`: utterances end at turns, and the diarizer says where turns
  change, so the segmenter runs after it);
- `DiarizationWindow`: the last `window_s` of audio every `step_s` of audio, with the VAD
  blocks inside it, for the diarizer;
- `PlacedVideoFrame`: each video frame due for detection (at most one per
  `detect_interval_s`, `detect_due`) with its position on the audio timeline, mapped
  through the client's `ts` clock (video carries only `ts`);
- the client's session events, passed through.

(`UtteranceAudio`, made by `operators.utterances` from these chunks, is defined here with
the other audio items.)

Everything leaves in one ordered stream per client, so the steps after it keep that
order and the join at the end sees the same sequence on every replay.

The VAD hears a level-normalised copy of each block (`operators.levels`): quiet and
distant talkers are brought to a level Silero hears, noise is not; what is recorded and
transcribed is never changed. The speech model (Silero or the energy VAD) only supplies a
probability per 32 ms block and runs inline: well under a millisecond per 100 ms chunk.
The seconds judged speech are counted per client (status: the client's `speech`
section). A client's state lives from its `session_start` to its `session_end` and is
then released.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from bytewax.operators import StatefulLogic
from typing_extensions import override

from ambient_flow.models.diarization import SpeechBlocks
from ambient_flow.models.vad import SpeechProbability
from ambient_flow.operators.events import ClientEvent
from ambient_flow.operators.levels import LevelNormalizer, LevelOptions
from ambient_flow.operators.ringbuffer import AudioRing
from ambient_flow.operators.segmenter import SpeechGate
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE as SR
from ambient_flow.protocol.messages import AudioChunk, VideoFrame

__all__ = [
    "AnalysisInput",
    "AnalysisItem",
    "AnalysisOptions",
    "DiarizationWindow",
    "PlacedVideoFrame",
    "SpeechAnalysisLogic",
    "SpeechChunk",
    "UtteranceAudio",
    "analysis_builder",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
#: Longest stretch of one chunk analysed at once (samples): far below the ring's length.
_PIECE = SR


@dataclass(frozen=True, slots=True, eq=False)
class SpeechChunk:
    """One chunk of a client's audio and the VAD's verdict on the blocks it completed."""

    client: str
    session: str
    start_sample: int
    samples: FloatArray
    blocks: SpeechBlocks | None  # None: the chunk completed no block
    received_ns: int

    @property
    def end_sample(self) -> int:
        return self.start_sample + int(self.samples.shape[0])


@dataclass(frozen=True, slots=True, eq=False)
class UtteranceAudio:
    """One utterance of one client, with its samples, ready for transcription.

    `speech`: the runs of speech blocks inside it (samples); `speaker`: the label that
    covered most of it when it closed (None: not known yet), for the prompt policy;
    `context`: the stream's audio just before `start_sample` (any sound, any speaker),
    decoded with the utterance as left context (empty: none).
    """

    client: str
    session: str
    start_sample: int
    end_sample: int
    samples: FloatArray
    reason: str
    started_ns: int  # arrival time of the chunk holding the first sample
    ended_ns: int  # arrival time of the data after which it was closed and its speech labelled
    speech: tuple[tuple[int, int], ...] = ()
    speaker: str | None = None
    context: FloatArray = field(default_factory=lambda: np.zeros(0, np.float32))

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
    speech: npt.NDArray[np.bool_]  # one flag per `block_samples` of the window, from its start
    block_samples: int
    received_ns: int  # arrival of the chunk that completed the window
    # The VAD's own blocks inside the window, for a diarizer that follows the VAD's grid
    # (the model stage hands the embedded default `speech` instead: `model_stage._diarize`).
    blocks: SpeechBlocks | None = None
    # The session is over: no audio (start = end = where it ended); the diarizer makes
    # its last corrections (`StepRequest.last`).
    last: bool = False


@dataclass(frozen=True, slots=True)
class PlacedVideoFrame:
    """A video frame and where it falls on the audio timeline (None before any audio)."""

    frame: VideoFrame
    session: str
    sample: int | None


AnalysisItem = SpeechChunk | DiarizationWindow | PlacedVideoFrame | ClientEvent
AnalysisInput = AudioChunk | VideoFrame | ClientEvent


@dataclass(frozen=True)
class AnalysisOptions:
    """How a client's audio is heard.

    Attributes:
        threshold: VAD probability at which speech starts.
        neg_threshold: Below this a block is silence (hysteresis).
        level: Level normalisation of the VAD's input (None: the VAD hears the raw audio).
        window_s: Diarization window.
        step_s: Audio between diarization windows.
        anchor_tolerance_ms: Re-anchor video to audio when the client's `ts` drifts this
            far from the samples.
        detect_interval_s: A client's video frames go to detection at most once per this
            many seconds of arrival time (0: every frame); see `detect_due`.
    """

    threshold: float = 0.5
    neg_threshold: float = 0.35
    level: LevelOptions | None = field(default_factory=LevelOptions)
    window_s: float = 5.0
    step_s: float = 0.5
    anchor_tolerance_ms: float = 250.0
    detect_interval_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.step_s <= self.window_s:
            raise ValueError("need 0 < step_s <= window_s")
        if not 0 < self.neg_threshold <= self.threshold < 1:
            raise ValueError("need 0 < neg_threshold <= threshold < 1")
        if not self.detect_interval_s >= 0:
            raise ValueError("need detect_interval_s >= 0")


#: Called with (client, seconds of audio heard, of which judged speech) after each chunk.
SpeechCounter = Callable[[str, float, float], None]
#: Called for each video frame not sent to detection (`detect_interval_s`).
FrameCounter = Callable[[], None]
#: A frame is due this share of `detect_interval_s` after the last detected one, so a
#: client sending at exactly the limit is not halved by arrival jitter.
_DUE_SHARE: Final = 0.9


class SpeechAnalysisLogic(StatefulLogic[AnalysisInput, AnalysisItem, None]):
    """Per-client: VAD per block, diarization windows, placed video frames."""

    def __init__(
        self,
        model: SpeechProbability,
        options: AnalysisOptions,
        count: SpeechCounter | None = None,
        not_detected: FrameCounter | None = None,
    ) -> None:
        self._model = model
        self._opt = options
        self._count = count
        self._not_detected = not_detected
        self._detected_ns: int | None = None  # arrival of the last frame sent to detection
        self._block = model.block_samples
        self._window = int(options.window_s * SR)
        self._step = int(options.step_s * SR)
        self._ring_capacity = self._window + self._step + _PIECE
        self.client = ""
        self.session = ""
        self._reset(0)

    def _reset(self, position: int) -> None:
        self._stream = self._model.new_stream()
        level = self._opt.level
        self._level = LevelNormalizer(level) if level is not None else None
        self._gate = SpeechGate(self._opt.threshold, self._opt.neg_threshold)
        self.ring = AudioRing(self._ring_capacity, position)
        self._carry = np.zeros(0, np.float32)
        self._carry_start = position
        self._grid0 = position  # VAD blocks start at grid0 + k * block
        n = self._window // self._block + 4
        self._probs = np.zeros(n, np.float32)  # the last blocks, by block index mod n
        self._flags = np.zeros(n, np.bool_)
        self._next_block = position  # the next block starts here (blocks: position + k*512)
        self._next_window = position + self._step
        self._anchor: tuple[int, int] | None = None

    # -- Bytewax hooks ----------------------------------------------------------------
    @override
    def on_item(self, value: AnalysisInput) -> tuple[Iterable[AnalysisItem], bool]:
        if isinstance(value, ClientEvent):
            self.client = value.client
            if value.kind == "session_start":
                self.session = value.session
                self._reset(int(value.data.get("start_sample", 0)))
            # The session is over: the diarizer's last word on it, then release this
            # client's audio and model state.
            if value.kind == "session_end":
                return [*self._closing(value.at_ns), value], StatefulLogic.DISCARD
            return [value], StatefulLogic.RETAIN
        if isinstance(value, VideoFrame):
            if not self.detect_due(value.received_ns):
                if self._not_detected is not None:
                    self._not_detected()
                return [], StatefulLogic.RETAIN
            return [PlacedVideoFrame(value, self.session, self._place(value))], StatefulLogic.RETAIN
        return self._audio(value), StatefulLogic.RETAIN

    @override
    def on_eof(self) -> tuple[Iterable[AnalysisItem], bool]:
        return [], StatefulLogic.DISCARD

    @override
    def snapshot(self) -> None:
        # Model stream state and audio are caches of the last seconds; after a recovery
        # the step starts fresh at the next session (documented in docs/frames.md).
        return None

    # -- audio ------------------------------------------------------------------------
    def _audio(self, chunk: AudioChunk) -> list[AnalysisItem]:
        start = chunk.start_sample if chunk.start_sample is not None else self.ring.end
        self.client = chunk.client
        if start != self.ring.end:  # not contiguous (state was reset); start over there
            self._reset(start)
        if not chunk.filled:
            self._maybe_anchor(chunk, start)
        # A chunk longer than the ring (a long gap filled with silence) is taken a second
        # at a time, so every window is cut while its audio is still held.
        if chunk.num_samples <= _PIECE:
            return self._piece(chunk, start)
        out: list[AnalysisItem] = []
        for offset in range(0, chunk.num_samples, _PIECE):
            piece = chunk.samples[offset : offset + _PIECE]
            out += self._piece(
                replace(chunk, float_samples=piece, start_sample=start + offset, pcm=None),
                start + offset,
            )
        return out

    def _piece(self, chunk: AudioChunk, start: int) -> list[AnalysisItem]:
        self.ring.write(chunk.samples)
        blocks = self._blocks(chunk, start)
        out: list[AnalysisItem] = [
            SpeechChunk(self.client, self.session, start, chunk.samples, blocks, chunk.received_ns)
        ]
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

    def detect_due(self, received_ns: int) -> bool:
        """Whether a frame that arrived at `received_ns` goes to detection: the first one,
        then one per `detect_interval_s` (the frames between are recorded, not detected).

        Arrival time, not the client's `ts`: a client's clock may be wrong or hostile. A
        time before the last detected frame's (a replay's or the host's clock stepped
        back) starts the count again.
        """
        interval = self._opt.detect_interval_s
        last = self._detected_ns
        if interval and last is not None and 0 <= received_ns - last < interval * _DUE_SHARE * 1e9:
            return False
        self._detected_ns = received_ns
        return True

    def _place(self, frame: VideoFrame) -> int | None:
        if self._anchor is None:
            return None
        sample0, ts0 = self._anchor
        return max(0, sample0 + round((frame.timestamp_ms - ts0) * SR / 1000))

    def _blocks(self, chunk: AudioChunk, start: int) -> SpeechBlocks | None:
        """The VAD's verdict on the blocks this chunk completes (carrying the remainder)."""
        samples = np.concatenate([self._carry, chunk.samples])
        first = self._carry_start
        n = samples.shape[0] // self._block
        self._carry = samples[n * self._block :].copy()
        self._carry_start = first + n * self._block
        if n == 0:
            return None
        blocks = samples[: n * self._block].reshape(n, self._block)
        heard = self._level.process(blocks) if self._level is not None else blocks
        if chunk.filled and not self._carry.size and first == start:
            probs = np.zeros(n, np.float32)  # inserted silence: no need to ask the model
        else:
            probs = np.asarray(self._stream.probabilities(heard), np.float32)
        flags = np.array([self._gate.push(float(p)) for p in probs], np.bool_)
        index = ((first - self._grid0) // self._block + np.arange(n)) % self._probs.shape[0]
        self._probs[index] = probs
        self._flags[index] = flags
        self._next_block = first + n * self._block
        if self._count is not None:
            self._count(self.client, n * self._block / SR, int(flags.sum()) * self._block / SR)
        return SpeechBlocks(first, self._block, probs, flags)

    def _closing(self, at_ns: int) -> list[AnalysisItem]:
        """A `last` window where the session's audio ended (none if it had no window)."""
        end = self.ring.end
        if self._next_window - self._step <= self._grid0:
            return []
        nothing = np.zeros(0, np.float32)
        flags = np.zeros(0, np.bool_)
        window = DiarizationWindow(
            self.client, self.session, end, end, nothing, flags, self._block, at_ns, last=True
        )
        return [window]

    def _window_item(self, end: int, received_ns: int) -> DiarizationWindow:
        b = self._block
        size = self._flags.shape[0]
        n_blocks = (end - max(self.ring.start, end - self._window)) // b
        start = end - n_blocks * b
        # The window's own blocks need not line up with the VAD's block grid: each takes
        # the flag of the VAD block holding its midpoint (not yet judged: silence).
        mids = start + np.arange(n_blocks) * b + b // 2
        k = (mids - self._grid0) // b
        known = self._grid0 + (k + 1) * b <= self._next_block
        speech = np.where(known, self._flags[k % size], False)
        # The VAD's own blocks that lie wholly inside the window.
        k0 = -(-(start - self._grid0) // b)
        k1 = (min(end, self._next_block) - self._grid0) // b
        vad = np.arange(k0, max(k0, k1)) % size
        return DiarizationWindow(
            client=self.client,
            session=self.session,
            start_sample=start,
            end_sample=end,
            samples=self.ring.range(start, end),
            speech=speech,
            block_samples=b,
            received_ns=received_ns,
            blocks=SpeechBlocks(
                self._grid0 + k0 * b, b, self._probs[vad].copy(), self._flags[vad].copy()
            ),
        )


def analysis_builder(
    model: SpeechProbability,
    options: AnalysisOptions,
    count: SpeechCounter | None = None,
    not_detected: FrameCounter | None = None,
) -> Callable[[Any], SpeechAnalysisLogic]:
    """Builder for `op.stateful`: one logic per client session, sharing the loaded model."""

    def build(_state: Any) -> SpeechAnalysisLogic:
        return SpeechAnalysisLogic(model, options, count, not_detected)

    return build
