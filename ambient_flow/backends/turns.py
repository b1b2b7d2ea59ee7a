"""Online speaker turns of one client: per-step units, first labels, change hints, relabels.

Pure decisions over numbers on the 16 kHz sample clock. The VAD supplies a speech flag
per 512-sample block; a speaker encoder supplies one embedding per step for the sample
runs this module asks for (`plan` -> embed -> `update`, so a host can batch the encoder
across clients). Everything else is here.

Units. Every step (0.5 s of audio) the newest `embed_s` of *speech blocks* of the current
*island* is embedded (an island is speech without a pause of `pause_split_s`; an
embedding never reaches across such a pause, so the voice before a turn-taking pause
stays out of it). That embedding labels the step's new speech: one unit per step.

Online label of a unit (decided in its own step: a label within ~1 s of speech):

- the session's first unit opens `speaker0` at once;
- nearest centroid within `join_threshold` -> that speaker; in the same island as the
  previous unit and within `continuity_margin` of the best -> the previous unit's speaker;
- farther than `new_threshold` from every centroid -> a *candidate* new voice; when
  consecutive candidates (close to each other) hold `min_new_speaker_s` of speech, a
  new speaker opens and the candidates' speech is relabelled to it (until then it
  carries the nearest speaker, provisionally);
- otherwise the nearest speaker.

A turn's first unit embeds half of the turn before it (1 s embedded, 0.5 s labelled), so
when the next unit of the same island takes a different label and lies closer to its
centroid than that unit did to its own, the first unit's speech takes the new label at
once (a `turn_edge` relabel; `turn_edges`).

Session pass (every `recluster.every_s` of new speech, and once more when the session ends
if speech came after the last one: `finish`; `recluster.py`): the recent units
are clustered again (the count from the eigengap, or the one given), smoothed, and mapped
onto the existing names; every unit whose label changed becomes a `SpeakerRelabel` of
the speech it already labelled. A count above the speakers active now is taken only
when the previous pass estimated it too (one noisy pass must not open and close names),
and a cluster with less than `recluster.min_cluster_s` of speech joins its nearest one
(a few odd units are not a person).
Where a label changes inside an island, the first unit of the new label's turn is
usually the one whose embedding straddles the change (it embeds 1 s, half of it the
turn before); the next unit covers its speech alone, so the farther of the two from its
own centroid gives way (`recluster.turn_edges`).

Change hints for the segmenter: two consecutive units agree on a label other than the
unit before them, and both are at least `hint_margin` closer to the new speaker's
centroid than to the old one's: the turn changed where the first of them began.

Bounded for long sessions: the last `recluster.max_units` units are kept (the session
pass sees those); older ones are folded into per-speaker *anchors* (a speech-weighted sum
of their embeddings, at most `recluster.max_anchors` of them) that still shape the online
centroids, so memory and per-step cost stay flat however long a client talks, and a
talker who comes back after the window has passed them is labelled against their own
earlier speech: they get their old label (`tests/backends/test_long_session.py`). The
session pass never moves a run of speech off an anchored label when it sounds more like
that label's past than like its new cluster (`recluster.anchor_guard`): a talker who
leaves is not folded into whoever is left as their units become a minority.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ambient_flow.backends.recluster import (
    cluster_centroids,
    map_labels,
    merge_small,
    nme_spectral,
    refine_edges,
    smooth_labels,
)
from ambient_flow.backends.tracker_options import StepResult, TrackerOptions
from ambient_flow.models.diarization import ChangeHint, SpeakerRelabel, SpeakerSegment
from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE as SAMPLE_RATE

__all__ = ["StepResult", "TrackerOptions", "TurnTracker"]

Vector = npt.NDArray[np.float64]
Run = tuple[int, int]


@dataclass(eq=False)
class _Unit:
    emb: Vector
    runs: list[Run]  # the speech this unit labels
    island: int
    pause_before: bool
    label: str = ""
    candidate: bool = False
    hinted: bool = False
    moved_from: str = ""  # its label before the next unit took it (`turn_edges`)
    blips: list[Run] = field(default_factory=list)  # short islands it labelled
    dists: dict[str, float] = field(default_factory=dict)  # to each centroid, when decided

    @property
    def speech(self) -> int:
        return sum(b - a for a, b in self.runs)

    def spans(self) -> list[Run]:
        return sorted(self.runs + self.blips)


def _unit(x: npt.ArrayLike) -> Vector:
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    n = float(np.linalg.norm(a))
    if not np.isfinite(n) or n == 0.0:
        raise ValueError("embedding has zero or non-finite norm")
    result: Vector = a / n
    return result


def _runs(starts: Sequence[int], size: int) -> list[Run]:
    out: list[list[int]] = []
    for s in starts:
        if out and s == out[-1][1]:
            out[-1][1] = s + size
        else:
            out.append([s, s + size])
    return [(a, b) for a, b in out]


def _compact(relabels: list[SpeakerRelabel], before: set[str]) -> list[SpeakerRelabel]:
    """Drop a pair of one step's events that undo each other: speech given to a voice born
    in this step (`new_speaker`) and taken back by the session pass, span for span (no
    other speech can carry a label born in this step, so the pair changes nothing)."""
    out: list[SpeakerRelabel] = []
    for ev in relabels:
        undo = next((i for i in range(len(out) - 1, -1, -1)
                     if (out[i].start_sample, out[i].end_sample, out[i].new, out[i].old)
                     == (ev.start_sample, ev.end_sample, ev.old, ev.new)
                     and ev.old not in before), None)  # fmt: skip
        if undo is not None and not any(
            x.start_sample < ev.end_sample and ev.start_sample < x.end_sample
            for x in out[undo + 1 :]
        ):
            del out[undo]
            continue
        out.append(ev)
    return out


def _bridge(runs: list[Run], gap: int) -> list[Run]:
    """Runs joined across pauses shorter than `gap` (a pause inside a turn is the turn's)."""
    out: list[Run] = []
    for a, b in runs:
        if out and a - out[-1][1] < gap:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


class TurnTracker:
    """One client session's speaker memory and turn state.

    Per step: `plan(step_end)` -> at most one list of sample runs to embed; the caller
    embeds their concatenation; `update(step_end, embeddings)` decides. `cancel()` drops
    a plan whose audio could not be gathered.
    """

    def __init__(self, options: TrackerOptions | None = None) -> None:
        self.options = options or TrackerOptions()
        self.units: list[_Unit] = []
        self._anchors: dict[str, tuple[Vector, float]] = {}  # folded units: sum, weight
        self._rank: dict[str, int] = {}  # label -> issue number, for labels in use
        self._issued = 0
        self._blocks: deque[tuple[int, int]] = deque(maxlen=self.options.max_blocks)
        self._island = -1
        self._last_speech_end: int | None = None
        self._done_upto = 0  # speech blocks before this are owned by a unit (or a blip)
        self._pending: list[tuple[int, int]] = []  # (block start, island), not yet labelled
        self._planned = False
        self._since_recluster = 0
        self._candidate: list[int] = []  # unit indices
        self._last_k = 0

    # -- blocks ---------------------------------------------------------------------------
    def push_block(self, block_start: int, speech: bool) -> None:
        """One VAD block, in order (`speech`: the gate's flag for it)."""
        if not speech:
            return
        o = self.options
        if self._last_speech_end is None or (
            block_start - self._last_speech_end >= o.samples(o.pause_split_s)
        ):
            self._island += 1
        self._last_speech_end = block_start + o.block_samples
        self._blocks.append((block_start, self._island))
        self._since_recluster += o.block_samples

    @property
    def next_block(self) -> int | None:
        """Where the block after the last speech block pushed starts (None: none yet)."""
        return self._last_speech_end

    # -- step, phase 1 ----------------------------------------------------------------------
    def plan(self, step_end: int) -> list[Run] | None:
        """The sample runs to embed for the step ending at `step_end` (None: nothing)."""
        o = self.options
        f = o.block_samples
        self._planned = False
        ready = [(s, i) for s, i in self._blocks if s + f <= step_end]
        if not ready or ready[-1][0] < self._done_upto:
            return None
        island = ready[-1][1]
        mine = [s for s, i in ready if i == island]
        if len(mine) * f < o.samples(o.min_embed_s):
            return None
        self._planned = True
        return _runs(mine[-(o.samples(o.embed_s) // f) :], f)

    def cancel(self) -> None:
        """The planned audio could not be embedded: the step decides as if nothing was asked."""
        self._planned = False

    # -- step, phase 2 ----------------------------------------------------------------------
    def update(self, step_end: int, embeddings: Sequence[npt.ArrayLike]) -> StepResult:
        """Decide this step's labels from the requested embedding (if one was planned)."""
        o = self.options
        f = o.block_samples
        if len(embeddings) != (1 if self._planned else 0):
            raise ValueError("update() needs exactly the embedding plan() asked for")
        before = set(self._rank)
        relabels: list[SpeakerRelabel] = []
        emit: list[tuple[_Unit, list[Run]]] = []  # labelled once the step is decided
        ready = [(s, i) for s, i in self._blocks if self._done_upto <= s and s + f <= step_end]
        if ready:
            self._done_upto = ready[-1][0] + f
        if self._planned:
            island = ready[-1][1] if ready else self._island
            waiting = self._pending + ready
            self._pending = []
            emit += self._blips([(s, i) for s, i in waiting if i != island])
            mine = [s for s, i in waiting if i == island]
            prev = self.units[-1] if self.units else None
            runs = _bridge(_runs(mine, f), o.samples(o.pause_split_s))
            if prev is not None and prev.island == island and prev.runs and runs:
                # the pause between two steps of one island is part of the turn
                runs[0] = (min(runs[0][0], prev.runs[-1][1]), runs[0][1])
            unit = _Unit(_unit(embeddings[0]), runs, island,
                         pause_before=prev is None or prev.island != island)  # fmt: skip
            self.units.append(unit)
            self._label_online(unit, step_end, relabels)
            emit.append((unit, unit.runs))
        else:
            self._pending += ready
            # an island that ended too short to embed takes its neighbour's label
            if (
                self._pending
                and self._last_speech_end is not None
                and (step_end - self._last_speech_end >= o.samples(o.pause_split_s))
            ):
                emit += self._blips(self._pending)
                self._pending = []
        ro = o.recluster
        if ro is not None:
            relabels += self._pass_after(o.samples(ro.every_s), step_end)
        relabels = _compact(relabels, before)
        hints = self._hints()
        self._fold()
        # segments carry the step's final decision (online label, new speaker, session
        # pass), so this step's relabels concern only segments of earlier steps
        segments = tuple(
            SpeakerSegment(a, b, u.label, self._confidence(u)) for u, runs in emit for a, b in runs
        )
        new = tuple(label for label in self.active_labels() if label not in before)
        return StepResult(segments, tuple(relabels), tuple(hints), new, self.active_labels())

    def _confidence(self, unit: _Unit) -> float:
        """1 at the centroid, 0.5 at the new-speaker distance (0.5 without a comparison)."""
        d = unit.dists.get(unit.label)
        if d is None:
            return 0.5
        return float(np.clip(1.0 - d / (2 * self.options.new_threshold), 0.0, 1.0))

    def _blips(self, blocks: list[tuple[int, int]]) -> list[tuple[_Unit, list[Run]]]:
        """Speech of islands too short to embed: the previous unit's label (and its fate)."""
        if not blocks or not self.units:
            return []
        unit = self.units[-1]
        runs = _runs([s for s, _ in blocks], self.options.block_samples)
        unit.blips += runs
        return [(unit, runs)]

    def active_labels(self) -> tuple[str, ...]:
        """Labels in use (by a unit or an anchor), in order of issue."""
        used = {u.label for u in self.units if u.label} | set(self._anchors)
        return tuple(sorted(used, key=lambda x: self._rank.get(x, 1 << 30)))

    # -- online decision ----------------------------------------------------------------------
    def centroids(self, exclude: int | None = None) -> dict[str, Vector]:
        """Speech-weighted mean embedding per label (unit `exclude` left out)."""
        sums: dict[str, Vector] = {k: v.copy() for k, (v, _) in self._anchors.items()}
        for i, u in enumerate(self.units):
            if i == exclude or not u.label or u.candidate:
                continue
            weighted = u.emb * max(u.speech, 1)
            sums[u.label] = sums[u.label] + weighted if u.label in sums else weighted
        return {k: _unit(v) for k, v in sums.items()}

    def _new_label(self) -> str:
        label = f"speaker{self._issued}"
        self._rank[label] = self._issued
        self._issued += 1
        return label

    def _label_online(self, unit: _Unit, at: int, relabels: list[SpeakerRelabel]) -> None:
        o = self.options
        idx = len(self.units) - 1
        cents = self.centroids(exclude=idx)
        if not cents:
            unit.label = self._new_label()
            return
        names = sorted(cents, key=lambda x: self._rank.get(x, 1 << 30))
        d = np.array([1.0 - float(cents[n] @ unit.emb) for n in names])
        unit.dists = dict(zip(names, d.tolist(), strict=True))
        best = int(np.argmin(d))
        prev = self.units[idx - 1] if idx > 0 else None
        label = names[best]
        if (
            prev is not None
            and not unit.pause_before
            and prev.label in cents
            and d[names.index(prev.label)] <= d[best] + o.continuity_margin
        ):
            label = prev.label
        unit.label = label
        if d[best] <= o.new_threshold or len(self.active_labels()) >= o.cap:
            if d[best] <= o.join_threshold:
                self._drop_candidate()
            if o.turn_edges and prev is not None and not unit.pause_before:
                self._edge(prev, unit, at, relabels)
            return
        if self._candidate:  # a candidate new voice: is it the same one as before?
            mean = _unit(sum(self.units[i].emb for i in self._candidate))
            if 1.0 - float(mean @ unit.emb) > o.candidate_threshold:
                self._drop_candidate()
        self._candidate.append(idx)
        unit.candidate = True
        if sum(self.units[i].speech for i in self._candidate) >= o.samples(o.min_new_speaker_s):
            new = self._new_label()
            for i in self._candidate:
                self._set(self.units[i], new, at, relabels)
            self._drop_candidate()

    def _edge(self, prev: _Unit, unit: _Unit, at: int, relabels: list[SpeakerRelabel]) -> None:
        """`TrackerOptions.turn_edges`: the previous unit's speech goes with this unit
        when their labels differ and this one lies closer to its own centroid."""
        old = prev.label
        if not old or old == unit.label or prev.candidate:
            return
        if unit.dists.get(unit.label, 2.0) >= prev.dists.get(old, 2.0):
            return
        for a, b in prev.spans():
            relabels.append(SpeakerRelabel(a, b, old, unit.label, at, "turn_edge"))
        prev.label = unit.label
        prev.moved_from = old

    def _drop_candidate(self) -> None:
        for i in self._candidate:
            self.units[i].candidate = False
        self._candidate = []

    def _set(self, unit: _Unit, new: str, at: int, relabels: list[SpeakerRelabel]) -> None:
        if unit.label == new:
            return
        for a, b in unit.spans():
            relabels.append(SpeakerRelabel(a, b, unit.label, new, at, "new_speaker"))
        unit.label = new
        unit.hinted = False
        unit.moved_from = ""

    def _hints(self) -> list[ChangeHint]:
        o = self.options
        out: list[ChangeHint] = []
        u = self.units
        for i in range(max(2, len(u) - 3), len(u)):
            a, b, c = u[i - 2], u[i - 1], u[i]
            # a unit moved by `turn_edges` is judged by its first label: the hint keeps
            # coming from two units that each heard the new voice alone
            was = a.moved_from or a.label
            if b.label != c.label or b.label == was or b.hinted or b.moved_from or not b.runs:
                continue
            if all(
                was in x.dists
                and b.label in x.dists
                and x.dists[was] - x.dists[b.label] >= o.hint_margin
                for x in (b, c)
            ):
                b.hinted = True
                out.append(ChangeHint(b.runs[0][0], 1.0))
        return out

    # -- session-level pass --------------------------------------------------------------------
    def finish(self, at: int) -> list[SpeakerRelabel]:
        """The session is over: the session pass once more when speech came after the
        last one (up to `every_s` of it would otherwise keep its online labels)."""
        return self._pass_after(1, at) if self.options.recluster is not None else []

    def _pass_after(self, speech: int, at: int) -> list[SpeakerRelabel]:
        """The session pass, once `speech` samples of speech came since the last one."""
        if self._since_recluster < speech or len(self.units) < self.options.min_units_recluster:
            return []
        self._since_recluster = 0
        return self.recluster(at)

    def recluster(self, at: int) -> list[SpeakerRelabel]:
        """Re-partition the recent units; a relabel event for every changed run of them."""
        o = self.options
        ro = o.recluster
        if ro is None:
            return []
        units = self.units[-ro.max_units :]
        if len(units) < 2:
            return []
        emb = np.stack([u.emb for u in units])
        clusters = nme_spectral(emb, o.max_speakers, ro.prune, o.num_speakers)
        if o.num_speakers is None:
            k_est = int(clusters.max()) + 1
            active = max(1, len(self.active_labels()))
            k_use = k_est if k_est <= max(active, self._last_k) else active
            self._last_k = k_est
            if k_use != k_est:
                clusters = nme_spectral(emb, o.max_speakers, ro.prune, k_use)
        pauses = [u.pause_before for u in units]
        weights = [max(u.speech, 1) / SAMPLE_RATE for u in units]
        if ro.min_cluster_s > 0:
            clusters = merge_small(emb, clusters, weights, ro.min_cluster_s)
        clusters = smooth_labels(emb, clusters, pauses, ro)
        order = self.active_labels()
        anchored = ro.anchor_join is not None or ro.anchor_veto is not None
        names = map_labels(list(clusters), [u.label for u in units], weights, order,
                           self._issued,
                           cluster_centroids(emb, [int(c) for c in clusters], weights)
                           if anchored else None,
                           self.anchors() if anchored else None,
                           ro.anchor_join, ro.anchor_veto)  # fmt: skip
        for name in names:
            if name not in self._rank:
                self._rank[name] = self._issued
                self._issued += 1
        if ro.anchor_guard:
            names = self._guard(units, names, emb, weights)
        if ro.turn_edges:
            names = refine_edges(emb, names, weights, pauses)
        relabels: list[SpeakerRelabel] = []
        group: list[tuple[_Unit, str]] = []
        for u, name in zip(units, names, strict=True):
            if u.label != name and group and group[-1][0].label == u.label and group[-1][1] == name:
                group.append((u, name))
                continue
            relabels += self._relabel_group(group, at)
            group = [(u, name)] if u.label != name else []
        relabels += self._relabel_group(group, at)
        self._drop_candidate()
        self._forget_unused()
        return relabels

    def _guard(
        self,
        units: list[_Unit],
        names: list[str],
        emb: npt.NDArray[np.float64],
        weights: list[float],
    ) -> list[str]:
        """Keep a run of units on its anchored label when it sounds more like that label's
        past than like the cluster the pass put it in (`ReclusterOptions.anchor_guard`).

        A talker leaving the window turns into a few units among many of the others, and
        a pass that no longer counts them as a speaker folds them into someone else just
        before they leave the window for good.
        """
        anchors = self.anchors()
        if not anchors:
            return names
        e = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        w = np.asarray(weights)
        cents = cluster_centroids(e, names, weights)
        out = list(names)
        i = 0
        while i < len(units):
            old, new = units[i].label, names[i]
            j = i + 1
            while j < len(units) and units[j].label == old and names[j] == new:
                j += 1
            if old != new and old in anchors:
                mean = _unit((e[i:j] * w[i:j, None]).sum(axis=0))
                if float(mean @ anchors[old]) > float(mean @ cents[new]):
                    out[i:j] = [old] * (j - i)
            i = j
        return out

    def _relabel_group(self, group: list[tuple[_Unit, str]], at: int) -> list[SpeakerRelabel]:
        """One event for consecutive units moving from one label to the same new one.

        It reaches halfway into the pauses around the group (`edge_reach_s` at the ends
        of what is remembered), so words Whisper timed into a pause move with the speech
        next to them.
        """
        if not group:
            return []
        old, new = group[0][0].label, group[0][1]
        spans = sorted(r for u, _ in group for r in u.spans())
        for u, _ in group:
            u.label = new
            u.hinted = False
            u.moved_from = ""
        if not spans:
            return []
        i0 = self.units.index(group[0][0])
        i1 = self.units.index(group[-1][0])
        start, end = spans[0][0], spans[-1][1]
        reach = self.options.samples(self.options.edge_reach_s)
        before = self.units[i0 - 1].spans() if i0 > 0 else []
        after = self.units[i1 + 1].spans() if i1 + 1 < len(self.units) else []
        start = min(start, (before[-1][1] + start) // 2) if before else max(0, start - reach)
        end = max(end, (end + after[0][0]) // 2) if after else end + reach
        return [SpeakerRelabel(start, end, old, new, at, "recluster")]

    def anchors(self) -> dict[str, Vector]:
        """Each label's anchor (unit length) once it holds `anchor_min_s` of speech."""
        ro = self.options.recluster
        least = self.options.samples(ro.anchor_min_s) if ro is not None else 0
        return {k: _unit(v) for k, (v, w) in self._anchors.items() if w >= least}

    # -- bounds ---------------------------------------------------------------------------------
    def _fold(self) -> None:
        """Keep the last `max_units` units; older ones become their speaker's anchor.

        A unit leaves the window with the label the session passes settled on and joins
        that label's anchor (a speech-weighted running sum). At most `max_anchors`
        anchors are kept (the one with the least speech goes first), so memory stays
        flat however many labels a long session issues.
        """
        ro = self.options.recluster
        keep = ro.max_units if ro is not None else 120
        extra = len(self.units) - keep
        if extra <= 0:
            return
        for u in self.units[:extra]:
            if not u.label:
                continue
            total, weight = self._anchors.get(u.label, (np.zeros_like(u.emb), 0.0))
            self._anchors[u.label] = (total + u.emb * max(u.speech, 1), weight + u.speech)
        del self.units[:extra]
        self._candidate = [i - extra for i in self._candidate if i >= extra]
        most = ro.max_anchors if ro is not None else 32
        while len(self._anchors) > most:
            lightest = min(
                self._anchors, key=lambda k: (self._anchors[k][1], -self._rank.get(k, 0))
            )
            del self._anchors[lightest]
        self._forget_unused()

    def _forget_unused(self) -> None:
        used = set(self.active_labels())
        for label in [k for k in self._rank if k not in used]:
            del self._rank[label]
