"""The utterance step: a closed utterance waits for the diarizer's labels of its speech."""

from __future__ import annotations

import itertools

import numpy as np

from ambient_flow.models.diarization import DiarizationStep, SpeakerSegment, SpeechBlocks
from ambient_flow.operators.events import ClientEvent
from ambient_flow.operators.model_stage import Diarized, Passed
from ambient_flow.operators.segmenter import SegmenterOptions
from ambient_flow.operators.speech import DiarizationWindow, SpeechChunk, UtteranceAudio
from ambient_flow.operators.utterances import HOLD_S, UtteranceLogic

SR = 16000
BLOCK = 512
CHUNK = 3 * BLOCK  # three VAD blocks per chunk keeps the arithmetic whole
STEP = 8 * CHUNK  # a diarization step every 0.77 s of audio


def chunk(k: int, speech: tuple[float, float], origin: int = 0) -> SpeechChunk:
    """Chunk k: its VAD blocks say speech inside [speech) seconds, silence elsewhere; each
    sample's value is its position on the stream (from `origin`), to check what is cut."""
    start = origin + k * CHUNK
    at = k * CHUNK + np.arange(3) * BLOCK
    p = np.where((at >= speech[0] * SR) & (at < speech[1] * SR), 0.9, 0.0).astype(np.float32)
    blocks = SpeechBlocks(start, BLOCK, p, p > 0.5)
    samples = np.arange(start, start + CHUNK).astype(np.float32)
    return SpeechChunk("c", "s1", start, samples, blocks, 1000 + k)


def step(end: int, who: str | None) -> Diarized:
    """The diarizer's step decided up to `end`, the last step's worth labelled `who`."""
    segments = (SpeakerSegment(end - STEP, end, who, 0.9),) if who else ()
    window = DiarizationWindow("c", "s1", end - STEP, end, np.zeros(STEP, np.float32),
                               np.zeros(STEP // BLOCK, bool), BLOCK, 5000 + end)  # fmt: skip
    speakers = (who,) if who else ()
    return Diarized(window, DiarizationStep(end - STEP, end, end - STEP, end, segments, speakers))


def run(speech: tuple[float, float], seconds: float, steps: bool) -> list[object]:
    """Feed chunks (and, with `steps`, a diarizer step after every STEP of audio)."""
    logic = UtteranceLogic(SegmenterOptions(min_silence_s=0.3, pre_roll_s=0.0))
    start = ClientEvent("c", "session_start", 0, "s1", {"start_sample": 0})
    out: list[object] = list(logic.on_item(Passed(start))[0])
    for k in range(round(seconds * SR / CHUNK)):
        out += logic.on_item(chunk(k, speech))[0]
        end = (k + 1) * CHUNK
        if steps and end % STEP == 0:
            # the diarizer names the voice only once it has heard all of it (a short reply)
            out += logic.on_item(step(end, "speaker1" if end >= speech[1] * SR else None))[0]
    return out


def test_an_utterance_closed_at_silence_waits_for_the_step_that_labels_its_end() -> None:
    out = run((0.5, 1.0), 3.0, steps=True)
    (i,) = [n for n, o in enumerate(out) if isinstance(o, UtteranceAudio)]
    utt = out[i]
    assert isinstance(utt, UtteranceAudio) and utt.reason == "silence"
    # the step that decided its end came through first, and named its speaker
    before = out[i - 1]
    assert isinstance(before, Diarized) and before.step.decided_end_sample >= utt.end_sample
    assert utt.speaker == "speaker1"
    assert utt.ended_ns == before.item.received_ns  # it left when its labels were known
    assert not [o for o in out[: i - 1] if isinstance(o, Diarized) and
                o.step.decided_end_sample >= utt.end_sample]  # fmt: skip


def test_without_a_step_an_utterance_waits_at_most_hold_s_of_audio() -> None:
    out = run((0.5, 1.0), 3.0, steps=False)  # a step dropped live, or a late diarizer
    (utt,) = [o for o in out if isinstance(o, UtteranceAudio)]
    assert isinstance(utt, UtteranceAudio) and utt.speaker is None
    released_by = utt.ended_ns - 1000  # the chunk after which it left
    assert (released_by + 1) * CHUNK - utt.end_sample <= HOLD_S * SR + CHUNK
    assert (released_by + 1) * CHUNK - utt.end_sample >= HOLD_S * SR


def utterances_with_context(context_s: float, origin: int) -> list[UtteranceAudio]:
    logic = UtteranceLogic(SegmenterOptions(min_silence_s=0.3, pre_roll_s=0.5), context_s)
    start = ClientEvent("c", "session_start", 0, "s1", {"start_sample": origin})
    logic.on_item(Passed(start))
    out: list[object] = []
    for k in range(round(30 * SR / CHUNK)):  # speech at 2-4 s and 24-26 s of the session
        out += logic.on_item(chunk(k, (2.0, 4.0) if k * CHUNK < 10 * SR else (24, 26), origin))[0]
    out += logic.on_item(Passed(ClientEvent("c", "session_end", 99, "s1", {})))[0]
    return [o for o in out if isinstance(o, UtteranceAudio)]


def test_an_utterance_carries_the_streams_audio_before_it_back_to_the_session_start() -> None:
    origin = 7 * SR  # the session starts 7 s into the client's stream
    first, late = utterances_with_context(6.0, origin)
    for utt in (first, late):  # the samples hold their own stream positions
        assert np.array_equal(utt.samples, np.arange(utt.start_sample, utt.end_sample))
    # the first: what the session holds before it (1.5 s: speech at 2 s, pre-roll 0.5 s)
    assert abs(first.start_sample - origin - 1.5 * SR) <= BLOCK
    assert np.array_equal(first.context, np.arange(origin, first.start_sample))
    # the later one: 6 s of it, whatever it holds (here silence and the ring's oldest audio)
    assert abs(late.start_sample - origin - 23.5 * SR) <= BLOCK
    assert np.array_equal(late.context, np.arange(late.start_sample - 6 * SR, late.start_sample))
    none = utterances_with_context(0.0, origin)
    assert [u.context.size for u in none] == [0, 0]
    assert [u.start_sample for u in none] == [first.start_sample, late.start_sample]


def test_no_utterance_starts_before_the_previous_ones_end_its_context_ends_there() -> None:
    # the context decode keeps the words from the utterance's start on (after_context): that
    # is where the previous utterance's audio, all its decode heard, ended at the latest
    logic = UtteranceLogic(SegmenterOptions(min_silence_s=0.3, pre_roll_s=0.5,
                                            max_utterance_s=3.0), 10.0)  # fmt: skip
    logic.on_item(Passed(ClientEvent("c", "session_start", 0, "s1", {"start_sample": 0})))
    # speech 1-3 s, a pause shorter than the pre-roll, 3.4-5 s, then 6-13 s cut at 3 s
    talk = ((1.0, 3.0), (3.4, 5.0), (6.0, 13.0))
    out: list[object] = []
    for k in range(round(15 * SR / CHUNK)):
        at = k * CHUNK + np.arange(3) * BLOCK
        p = np.where([any(a * SR <= t < b * SR for a, b in talk) for t in at], 0.9, 0.0)
        blocks = SpeechBlocks(k * CHUNK, BLOCK, p.astype(np.float32), p > 0.5)
        samples = np.arange(k * CHUNK, (k + 1) * CHUNK).astype(np.float32)
        out += logic.on_item(SpeechChunk("c", "s1", k * CHUNK, samples, blocks, 1000 + k))[0]
    out += logic.on_item(Passed(ClientEvent("c", "session_end", 99, "s1", {})))[0]
    utts = [o for o in out if isinstance(o, UtteranceAudio)]
    assert [u.reason for u in utts][:3] == ["silence", "silence", "max_length"]
    assert utts[1].start_sample == utts[0].end_sample  # the pre-roll stopped there
    assert utts[3].start_sample == utts[2].end_sample  # a cut inside speech: contiguous
    for before, utt in itertools.pairwise(utts):
        assert utt.start_sample >= before.end_sample
        lo = max(0, utt.start_sample - 10 * SR)
        assert np.array_equal(utt.context, np.arange(lo, utt.start_sample))


def test_a_flush_releases_what_waits() -> None:
    logic = UtteranceLogic(SegmenterOptions(min_silence_s=0.3, pre_roll_s=0.0))
    start = ClientEvent("c", "session_start", 0, "s1", {"start_sample": 0})
    logic.on_item(Passed(start))
    out: list[object] = []
    for k in range(round(1.4 * SR / CHUNK)):  # speech 0.5-1.0 s, then 0.4 s of silence
        out += logic.on_item(chunk(k, (0.5, 1.0)))[0]
    assert not [o for o in out if isinstance(o, UtteranceAudio)]  # closed, still waiting
    end = ClientEvent("c", "session_end", 99, "s1", {})
    flushed = list(logic.on_item(Passed(end))[0])
    assert isinstance(flushed[0], UtteranceAudio) and flushed[0].reason == "silence"
    assert isinstance(flushed[-1], Passed)
