"""The embedded diarizer's decisions, on synthetic embeddings: first labels, new voices,
turn hints, the session pass and its relabel events, and bounds for long sessions."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import pytest

from ambient_flow.backends.recluster import ReclusterOptions
from ambient_flow.backends.turns import StepResult, TrackerOptions, TurnTracker
from ambient_flow.models.diarization import SpeakerRelabel, SpeakerSegment, apply_relabels

F, STEP, SR = 512, 8000, 16000
Voices = Callable[[int], int | None]  # block index -> voice (None: silence)


def embeddings(seed: int = 0, noise: float = 0.15) -> Callable[[int, int], np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = {v: rng.standard_normal(64) for v in range(6)}

    def emb(voice: int, step: int) -> np.ndarray:
        r = np.random.default_rng(1000 * voice + step)
        return np.abs(centres[voice] + noise * r.standard_normal(64))

    return emb


def drive(  # type: ignore[no-untyped-def]
    tracker: TurnTracker, voices: Voices, steps: int, emb=None, heard=None
) -> list[StepResult]:
    """`emb(voice, step)` embeds the voice in the middle of the planned speech's last run;
    `heard(runs, step)`, when given, embeds the planned runs themselves (see `mixing`)."""
    emb = emb or embeddings()
    out, block = [], 0
    for step in range(1, steps + 1):
        end = step * STEP
        while (block + 1) * F <= end:
            tracker.push_block(block * F, voices(block) is not None)
            block += 1
        runs = tracker.plan(end)
        found = []
        if runs is not None and heard is not None:
            found = [heard(runs, step)]
        elif runs is not None:
            voice = voices(((runs[-1][0] + runs[-1][1]) // 2) // F)
            found = [emb(voice if voice is not None else 0, step)]
        out.append(tracker.update(end, found))
    return out


def final(results: list[StepResult]) -> list[SpeakerSegment]:
    spans: list[SpeakerSegment] = []
    for r in results:  # a step's relabels concern the segments of the steps before it
        spans = apply_relabels(spans, r.relabels) + list(r.segments)
    return spans


def purity(spans: list[SpeakerSegment], voices: Voices) -> float:
    """Share of the labelled speech whose label's most frequent voice it is."""
    votes: dict[tuple[str, int], int] = {}
    for s in spans:
        v = voices((s.start_sample + s.end_sample) // 2 // F)
        if v is not None:
            votes[s.speaker, v] = votes.get((s.speaker, v), 0) + s.end_sample - s.start_sample
    best: dict[str, int] = {}
    for (who, _), n in votes.items():
        best[who] = max(best.get(who, 0), n)
    return sum(best.values()) / max(1, sum(votes.values()))


def alternating(turn_s: float, pause_s: float, cycle: list[int]) -> Voices:
    def voices(block: int) -> int | None:
        t = block * F / SR
        k = int(t // (turn_s + pause_s))
        return None if t % (turn_s + pause_s) >= turn_s else cycle[k % len(cycle)]

    return voices


def test_the_first_label_comes_within_a_step_and_one_voice_stays_one_speaker() -> None:
    results = drive(TurnTracker(), lambda b: 0 if b >= 10 else None, 60)
    first = next(r for r in results if r.segments)
    assert first.segments[0].start_sample == 10 * F
    assert first.new_speakers == ("speaker0",)
    assert results.index(first) <= (10 * F) // STEP + 1  # the step holding the 2nd block
    assert {s.speaker for s in final(results)} == {"speaker0"}


def test_two_voices_are_found_hinted_and_every_turn_is_one_label() -> None:
    voices = alternating(4.0, 0.4, [0, 1])
    tracker = TurnTracker(TrackerOptions(recluster=ReclusterOptions(every_s=2.0)))
    results = drive(tracker, voices, 80)
    spans = final(results)
    assert len({s.speaker for s in spans}) == 2
    for k in range(8):
        turn = {s.speaker for s in spans if k * 4.4 * SR <= s.start_sample < (k * 4.4 + 4) * SR}
        assert len(turn) <= 1
    assert any(r.hints for r in results), "turn changes must give change hints"
    assert all(0.0 <= s.confidence <= 1.0 for r in results for s in r.segments)


def test_the_session_pass_corrects_with_relabel_events_not_silently() -> None:
    # Close voices: online decisions merge them; the session pass splits them again.
    voices = alternating(3.0, 0.3, [0, 1, 2])
    emb = embeddings(seed=4, noise=0.45)
    with_pass = drive(TurnTracker(), voices, 90, emb)
    without = drive(TurnTracker(TrackerOptions(recluster=None)), voices, 90, emb)
    reasons = {e.reason for r in with_pass for e in r.relabels}
    assert "recluster" in reasons
    assert not any(e.reason == "recluster" for r in without for e in r.relabels)
    for r in with_pass:
        for e in r.relabels:
            assert isinstance(e, SpeakerRelabel) and e.old != e.new
            # a step's relabels concern earlier steps' segments: its own carry the decision
            for s in r.segments:
                inside = s.start_sample < e.end_sample and s.end_sample > e.start_sample
                assert not (inside and s.speaker == e.old), (e, s)
    # the corrections make the final view better than the first one
    first_view = [s for r in with_pass for s in r.segments]
    assert len({s.speaker for s in final(with_pass)}) == 3
    assert purity(final(with_pass), voices) > purity(first_view, voices) - 1e-9


def test_a_short_odd_stretch_is_not_given_a_label_that_is_taken_back() -> None:
    # One talker; 0.5 s at 8 s sounds like someone else (a laugh, a cough).
    talker = alternating(6.0, 0.3, [0])

    def voices(block: int) -> int | None:
        inside = 8.0 <= block * F / SR < 8.5
        return 5 if inside and talker(block) is not None else talker(block)

    def run(min_cluster_s: float) -> list[StepResult]:
        options = TrackerOptions(recluster=ReclusterOptions(min_cluster_s=min_cluster_s))
        return drive(TurnTracker(options), voices, 60, embeddings(seed=3, noise=0.3))

    def churn(results: list[StepResult]) -> tuple[int, int]:
        relabels = sum(len(r.relabels) for r in results)
        return relabels, sum(len(r.new_speakers) for r in results)

    kept, merged = run(0.0), run(1.0)
    assert churn(kept)[0] > 0 and churn(kept)[1] > 1  # a label opened, then taken back
    assert churn(merged) == (0, 1)
    assert {s.speaker for s in final(kept)} == {s.speaker for s in final(merged)} == {"speaker0"}


def test_the_session_pass_runs_once_more_at_the_end_over_speech_no_pass_has_seen() -> None:
    class Counted(TurnTracker):
        def __init__(self) -> None:
            super().__init__()
            self.passes: list[int] = []

        def recluster(self, at: int) -> list[SpeakerRelabel]:
            self.passes.append(at)
            return super().recluster(at)

    voices = alternating(3.0, 0.3, [0, 1])
    tracker = Counted()
    drive(tracker, voices, 42)  # 21 s: speech after the last pass (every 2 s of it)
    before = len(tracker.passes)
    assert tracker._since_recluster > 0
    tracker.finish(42 * STEP)
    assert tracker.passes[before:] == [42 * STEP] and tracker._since_recluster == 0
    assert tracker.finish(42 * STEP) == [] and len(tracker.passes) == before + 1  # nothing new
    off = TurnTracker(TrackerOptions(recluster=None))
    drive(off, voices, 41)
    assert off.finish(41 * STEP) == []


def test_a_known_count_caps_the_speakers() -> None:
    voices = alternating(3.0, 0.0, [0, 1, 2])
    results = drive(TurnTracker(TrackerOptions(num_speakers=2, max_speakers=2)), voices, 60)
    assert len({s.speaker for s in final(results)}) <= 2
    assert len(results[-1].speakers) <= 2


def test_silence_gives_nothing() -> None:
    results = drive(TurnTracker(), lambda b: None, 20)
    assert all(not r.segments and not r.relabels and not r.speakers for r in results)


def test_decisions_are_a_function_of_the_input() -> None:
    voices = alternating(3.0, 0.3, [0, 1])
    a, b = drive(TurnTracker(), voices, 40), drive(TurnTracker(), voices, 40)
    assert a == b


def test_update_needs_what_plan_asked_for() -> None:
    tracker = TurnTracker()
    for k in range(15):
        tracker.push_block(k * F, True)
    assert tracker.plan(STEP) is not None
    with pytest.raises(ValueError, match="plan"):
        tracker.update(STEP, [])
    tracker.plan(STEP)
    tracker.cancel()
    assert tracker.update(STEP, []).segments == ()


def test_a_long_session_keeps_flat_memory_and_cost() -> None:
    """Ten minutes of four talkers: units are capped, older speech folds into anchors."""
    voices = alternating(2.5, 0.3, [0, 1, 2, 3])
    tracker = TurnTracker()
    emb = embeddings(seed=2, noise=0.3)
    steps = 10 * 60 * 2
    times: list[float] = []
    tracemalloc.start()
    block = 0
    try:
        for step in range(1, steps + 1):
            end = step * STEP
            while (block + 1) * F <= end:
                tracker.push_block(block * F, voices(block) is not None)
                block += 1
            t = time.perf_counter()
            runs = tracker.plan(end)
            found = [emb(voices(runs[-1][0] // F) or 0, step)] if runs is not None else []
            tracker.update(end, found)
            times.append(time.perf_counter() - t)
            if step == steps // 4:
                early, _ = tracemalloc.get_traced_memory()
        late, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(tracker.units) <= 120
    assert late - early < 200_000, (early, late)  # bytes: flat, not growing with the session
    quarter = len(times) // 4
    assert np.mean(times[-quarter:]) < 2.5 * np.mean(times[quarter : 2 * quarter]) + 1e-3
    assert 2 <= len(tracker.active_labels()) <= 8


def test_anchors_are_bounded_however_many_voices_a_session_hears() -> None:
    """Six voices one after another, 15 s each: at most `max_anchors` anchors are kept."""
    voices = alternating(15.0, 0.4, [0, 1, 2, 3, 4, 5])
    recluster = ReclusterOptions(max_units=20, max_anchors=2)
    tracker = TurnTracker(TrackerOptions(recluster=recluster))
    emb = embeddings(seed=5, noise=0.1)
    most = 0
    block = 0
    for step in range(1, 6 * 31 * 2 + 1):
        end = step * STEP
        while (block + 1) * F <= end:
            tracker.push_block(block * F, voices(block) is not None)
            block += 1
        runs = tracker.plan(end)
        found = [emb(voices(runs[-1][0] // F) or 0, step)] if runs is not None else []
        tracker.update(end, found)
        most = max(most, len(tracker._anchors))
    assert most == 2
    assert len(tracker.units) <= 20
    assert set(tracker.anchors()) <= set(tracker.active_labels())


def test_options_are_validated() -> None:
    for bad in ({"join_threshold": 0.5, "new_threshold": 0.3}, {"min_embed_s": 2.0},
                {"max_speakers": 0}, {"num_speakers": 9}, {"max_blocks": 4}):  # fmt: skip
        with pytest.raises(ValueError, match=r"need|must"):
            TrackerOptions(**bad)  # type: ignore[arg-type]


def test_a_pair_of_events_that_undo_each_other_in_one_step_is_not_emitted() -> None:
    from ambient_flow.backends.turns import _compact

    give = SpeakerRelabel(0, 100, "speaker0", "speaker3", 200, "new_speaker")
    take = SpeakerRelabel(0, 100, "speaker3", "speaker0", 200, "recluster")
    other = SpeakerRelabel(50, 150, "speaker1", "speaker2", 200, "recluster")
    assert _compact([give, take], {"speaker0"}) == []
    assert _compact([give, other, take], {"speaker0"}) == [give, other, take]  # in between
    assert _compact([give, take], {"speaker0", "speaker3"}) == [give, take]  # not born now


def mixing(voices: Voices) -> Callable[[list[tuple[int, int]], int], np.ndarray]:
    """Embeddings that mix the voices of every block they cover, as a real 1 s embedding
    does across a change of turn (`drive(..., heard=mixing(voices))`)."""
    centres = np.abs(np.random.default_rng(7).standard_normal((4, 64)))

    def heard(runs: list[tuple[int, int]], step: int) -> np.ndarray:
        blocks = [voices(b) for a, z in runs for b in range(a // F, z // F)]
        noise = np.random.default_rng(step).standard_normal(64)
        return sum(centres[v] for v in blocks if v is not None) / len(blocks) + 0.2 * noise

    return heard


def test_a_turn_starts_where_it_starts_not_where_the_embedding_sees_it() -> None:
    """Turns with no pause between them: the unit whose speech begins a turn embeds half of
    the turn before; the session pass gives its speech to the turn it belongs to."""
    voices = alternating(2.0, 0.0, [0, 1])

    def run(edges: bool) -> list[StepResult]:
        options = TrackerOptions(recluster=ReclusterOptions(turn_edges=edges))
        return drive(TurnTracker(options), voices, 80, heard=mixing(voices))

    with_edges, without = run(True), run(False)
    held: dict[str, int] = {}
    for s in final(with_edges):
        held[s.speaker] = held.get(s.speaker, 0) + s.end_sample - s.start_sample
    two = sorted(held.values())[-2:]
    assert sum(two) >= 0.9 * sum(held.values()), held  # the straddling units are no voice
    better, worse = purity(final(with_edges), voices), purity(final(without), voices)
    assert better >= worse + 0.05, (better, worse)
    # the corrections are relabel events of speech already emitted
    assert any(e.reason == "recluster" for r in with_edges for e in r.relabels)


def test_the_first_label_of_a_turn_is_corrected_online_a_step_later() -> None:
    """Without the session pass: the unit after a change, which heard the new voice alone,
    takes back the speech of the unit that straddled the change (a `turn_edge` event),
    and the turn change is still hinted."""
    voices = alternating(2.0, 0.0, [0, 1])

    def run(edges: bool) -> list[StepResult]:
        options = TrackerOptions(recluster=None, turn_edges=edges)
        return drive(TurnTracker(options), voices, 80, heard=mixing(voices))

    with_edges, without = run(True), run(False)
    assert any(e.reason == "turn_edge" for r in with_edges for e in r.relabels)
    assert not any(e.reason == "turn_edge" for r in without for e in r.relabels)
    wrong = 1 - purity(final(with_edges), voices), 1 - purity(final(without), voices)
    assert wrong[0] < wrong[1] / 2, wrong
    assert sum(len(r.hints) for r in with_edges) >= sum(len(r.hints) for r in without) - 1
    for r in with_edges:  # a step's events concern earlier steps' segments only
        for e in r.relabels:
            assert e.at_sample >= e.end_sample
