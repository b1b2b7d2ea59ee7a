"""The session-level pass of the embedded diarizer: re-cluster, smooth, keep the names.

Online labels are decided on little evidence (a label within one step of speech). A
1 s resemblyzer embedding is a weak pairwise voice test (equal-error rate 18-24 %), but
assigned to the *right centroid* it is right 92-98 % of the time (research for issue 11):
the work is finding the centroids, and that needs the session. So every few seconds of
new speech all recent units (one embedding per 0.5 s step of speech) are clustered
again, and the caller turns each changed unit into a relabel event.

Pure numpy/scipy and deterministic (no random state anywhere):

1. `nme_spectral`: NME-SC (Park et al., 2019), spectral clustering that tunes its own
   pruning: for each neighbour count p the binarised p-nearest-neighbour graph's
   Laplacian is decomposed, and the p with the best normalised maximum eigengap wins;
   that gap's position is the speaker count (unless it is known). Clusters: k-means on
   the first k eigenvectors, initialised farthest-point (no seed needed). `merge_small`:
   a cluster with under `min_cluster_s` of speech joins its nearest neighbour.
2. `smooth_labels`: Viterbi re-decoding of the unit sequence against the clusters'
   centroids, with a cost per switch (lower across a pause): one-unit flips go.
3. `map_labels`: clusters are named after the labels their units already carry
   (Hungarian on shared speech), so names stay stable; an unmatched cluster gets a
   fresh name. In a session longer than the window every label also has an *anchor*
   (the mean embedding of its speech that left the window; `turns.TurnTracker`). The
   anchors already steer the online labels, which is what gives a talker who comes
   back after minutes their old name; and the pass never moves speech off an
   anchored label when it sounds more like that label's past than like the cluster
   it was put in (`anchor_guard`). Optionally (`anchor_join`, `anchor_veto`; off by
   default, see `ReclusterOptions`) anchors also name clusters here.
4. `refine_edges`: at each label change inside an island, of the two units around it
   the one that lies farther from its own centroid is the one whose 1 s embedding
   straddles the change; the speech the first of them labels goes with the second
   when it is the first (`turn_edges`).

Measured on generated dialogues (dev) and pyannote's real call: NME-SC found 2 speakers
on the real call at its default, AHC at any threshold 3-7 or 1; real-call DER 0.50 with
online decisions alone, 0.24 with this pass, 0.15 with `refine_edges` too.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

__all__ = [
    "ReclusterOptions",
    "cluster_centroids",
    "kmeans",
    "map_labels",
    "merge_small",
    "nme_spectral",
    "refine_edges",
    "smooth_labels",
]

Matrix = npt.NDArray[np.float64]
Labels = npt.NDArray[np.int64]
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class ReclusterOptions:
    """Knobs of the session-level pass (chosen on the generated dev set).

    Attributes:
        prune: NME-SC's largest neighbour count, as a fraction of the units.
        every_s: Run after this much new speech (seconds).
        max_units: Cluster at most this many most recent units (cost grows ~n^3:
            measured ~5 ms at 50 units, 35-70 ms at 100-120 here); older speech keeps
            its labels and still shapes the online centroids.
        switch_penalty: Smoothing: log-score cost of a speaker switch between units.
        pause_switch_penalty: The same across a pause (turns change at pauses).
        temperature: Smoothing: cosine similarities are divided by this.
        anchor_join: A cluster left without a name by shared speech, or named after a
            label that has no anchor (born in the window), takes the anchored label
            (not given to another cluster) whose anchor is within this cosine distance
            of its centroid (None: off). One talker's 10 s of speech lies 0.02-0.04
            from their own earlier speech, 0.07 and more from another talker's (long
            dev clips).
        anchor_veto: Shared speech never names a cluster after a label whose anchor
            is farther than this from the cluster's centroid (None: off).
            Both are off by default because they did not help where it counts
            (`bench.speech` long sessions, diarization alone, DER at collar 0):
            join 0.04 + veto 0.12 was the best pair on 9 dev clips (0.211 -> 0.204)
            and worse on 6 held-out clips (0.208 -> 0.217, more labels found);
            a wider join (0.05-0.06) named a window cluster that had merged two
            close voices after the older one (dev 0.224).
        anchor_guard: A run of units the pass would move off an anchored label keeps it
            when its mean embedding is closer to that label's anchor than to the
            centroid of the cluster it was put in (`TurnTracker`). A talker leaving the
            window becomes a few units among many and is folded into whoever is left
            just before their speech leaves the window for good; their anchor catches
            that. `bench.speech` long sessions, diarization alone, DER at collar 0:
            dev (9 clips) 0.211 -> 0.136, held-out (6 clips) 0.208 -> 0.149, every clip
            better; talkers back after > 60 s of others with their old label (dev)
            18/21 -> 21/21. No effect before the first units leave the window (~60 s
            of speech).
        turn_edges: At a label change inside an island, the unit before the change
            takes the later unit's label when the later one lies closer to its own
            label's centroid (`refine_edges`). A unit embeds the newest 1 s of speech
            but labels only the newest 0.5 s, so the unit whose 0.5 s begins a turn
            embeds half of the turn before it; the next unit's 1 s covers that 0.5 s
            with no one else in it. `bench.speech --quick`, timeline DER at collar 0
            without -> with: real call 0.233 -> 0.153 (confusion 0.138 -> 0.058,
            cpWER 0.469 -> 0.333), dev 0.238 -> 0.227, held-out 0.181 -> 0.155.
        min_cluster_s: A cluster holding less speech than this (seconds) joins the
            cluster nearest to it (`merge_small`) before the pass names anything: the
            speech the online tracker needs to open a speaker (`min_new_speaker_s`).
            Early in a session, and after a short odd stretch (a laugh, an overlap),
            NME-SC splits off a few units; the pass gave them a fresh label and a later
            pass took it back (two relabel events, a label that was never a person).
            `bench.speech --quick`, 0 -> 1.0 s: relabel events dev 297 -> 251,
            held-out 208 -> 192, the real call at 8 offsets 188 -> 184; the final
            timeline identical clip for clip (DER, speakers found); each utterance
            line's label DER 0.249 -> 0.247 (dev), 0.192 -> 0.184 (held-out), 0.249 =
            (call). 2.0 s took out more events (191 / 156 / 118) but would also fold a
            real talker's short first reply back into another label. Offline, over
            every pass of every dev and held-out clip with speech (passes also steer
            the online labels): units right 0.731 -> 0.777 (dev), 0.754 -> 0.796
            (held-out). 0 turns it off.
        anchor_min_s: An anchor is used once it holds this much speech (seconds).
        max_anchors: Most anchors kept per session (the one with the least speech goes
            first): memory stays flat however many labels a long session issues.
    """

    prune: float = 0.2
    every_s: float = 2.0
    max_units: int = 120
    switch_penalty: float = 1.0
    pause_switch_penalty: float = 0.3
    temperature: float = 0.05
    anchor_join: float | None = None
    anchor_veto: float | None = None
    anchor_guard: bool = True
    turn_edges: bool = True
    anchor_min_s: float = 2.0
    max_anchors: int = 32
    min_cluster_s: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.prune <= 1.0:
            raise ValueError(f"prune must be in (0, 1], got {self.prune}")
        if self.every_s <= 0 or self.max_units < 3:
            raise ValueError("every_s must be > 0 and max_units >= 3")
        if self.temperature <= 0 or self.switch_penalty < 0 or self.pause_switch_penalty < 0:
            raise ValueError("temperature must be > 0 and the penalties >= 0")
        for name in ("anchor_join", "anchor_veto"):
            value = getattr(self, name)
            if value is not None and not 0.0 < value < 2.0:
                raise ValueError(f"{name} must be in (0, 2) or None, got {value}")
        if self.anchor_min_s < 0 or self.max_anchors < 1:
            raise ValueError("anchor_min_s must be >= 0 and max_anchors >= 1")
        if self.min_cluster_s < 0:
            raise ValueError(f"min_cluster_s must be >= 0, got {self.min_cluster_s}")


def _unit_rows(x: npt.ArrayLike) -> Matrix:
    a = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(a, axis=-1, keepdims=True)
    result: Matrix = a / np.maximum(n, 1e-12)
    return result


def _renumber(labels: Labels) -> Labels:
    """Clusters numbered by first appearance (time order), so the output is canonical."""
    seen: dict[int, int] = {}
    out = np.empty_like(labels)
    for i, v in enumerate(labels):
        out[i] = seen.setdefault(int(v), len(seen))
    return out


def _neighbour_counts(p_max: int) -> list[int]:
    """1, 2, 3, 4, 5, 7, 10, 14, ... up to p_max: the NME search on a geometric grid (cost)."""
    out: list[int] = []
    p = 1.0
    while int(p) <= p_max:
        if not out or int(p) != out[-1]:
            out.append(int(p))
        p *= 1.4
    return out


def nme_spectral(
    embeddings: npt.ArrayLike, max_k: int, prune: float = 0.2, k: int | None = None
) -> Labels:
    """Cluster index per unit (0.., in time order of first use); `k`: the known count."""
    from scipy.linalg import eigh

    e = _unit_rows(embeddings)
    n = e.shape[0]
    if n < 3:
        if k in (None, 1):
            return np.zeros(n, np.int64)
        return np.arange(n, dtype=np.int64) % max(1, k or 1)
    sim = e @ e.T
    order = np.argsort(-sim, axis=1, kind="stable")
    km = min(max_k, n - 1)
    best: tuple[float, int, Matrix] | None = None
    for p in _neighbour_counts(max(2, int(prune * n))):
        a = np.zeros_like(sim)
        cols = order[:, : p + 1]
        a[np.repeat(np.arange(n), p + 1), cols.reshape(-1)] = 1.0
        a = 0.5 * (a + a.T)
        lap = np.diag(a.sum(axis=1)) - a
        ev = eigh(lap, eigvals_only=True, subset_by_index=[0, km], driver="evr")
        gaps = np.diff(ev[: km + 1])
        gap = float(gaps.max()) if gaps.size else 0.0
        ratio = p / (gap + 1e-10)
        if best is None or ratio < best[0]:
            best = (ratio, int(np.argmax(gaps)) + 1 if gaps.size else 1, lap)
    if best is None:  # pragma: no cover - the grid always holds p = 1
        raise AssertionError("no neighbour count tried")
    _, k_est, lap = best
    kk = min(k if k is not None else k_est, n)
    if kk <= 1:
        return np.zeros(n, np.int64)
    vec = eigh(lap, subset_by_index=[0, min(max(kk, k_est), n - 1)], driver="evr")[1]
    return _renumber(kmeans(vec[:, :kk], kk))


def kmeans(x: npt.ArrayLike, k: int, iters: int = 50) -> Labels:
    """Lloyd's k-means from a farthest-point start: a function of the data only.

    The first centre is the point farthest from the mean, each next one the point
    farthest from the centres chosen; ties go to the earliest point.
    """
    pts = np.asarray(x, np.float64)
    first = int(np.argmax(((pts - pts.mean(axis=0)) ** 2).sum(axis=1)))
    centres = [pts[first]]
    for _ in range(1, k):
        d = np.min(((pts[:, None, :] - np.array(centres)[None]) ** 2).sum(axis=2), axis=1)
        centres.append(pts[int(np.argmax(d))])
    c = np.array(centres)
    labels = np.zeros(pts.shape[0], np.int64)
    for it in range(iters):
        new = np.argmin(((pts[:, None, :] - c[None]) ** 2).sum(axis=2), axis=1)
        if it > 0 and np.array_equal(new, labels):
            break
        labels = new
        c = np.array([pts[labels == j].mean(axis=0) if np.any(labels == j) else c[j]
                      for j in range(k)])  # fmt: skip
    return labels.astype(np.int64)


def merge_small(
    embeddings: npt.ArrayLike, clusters: npt.ArrayLike, weights: Sequence[float], min_s: float
) -> Labels:
    """Clusters holding less than `min_s` of speech joined to their nearest neighbour.

    The smallest goes first, into the cluster whose centroid (`cluster_centroids`) is
    most similar to its own; repeated until every cluster holds `min_s` or one is left.
    """
    lab = np.asarray(clusters, np.int64).copy()
    w = np.asarray(weights, np.float64)
    while True:
        ks = sorted(set(lab.tolist()))
        if len(ks) < 2:
            break
        mass = {k: float(w[lab == k].sum()) for k in ks}
        small = min(ks, key=lambda k: (mass[k], k))
        if mass[small] >= min_s:
            break
        cents = cluster_centroids(embeddings, lab.tolist(), w.tolist())
        others = [k for k in ks if k != small]
        into = max(others, key=lambda k: (float(cents[k] @ cents[small]), -k))
        lab[lab == small] = into
    return _renumber(lab)


def smooth_labels(
    embeddings: npt.ArrayLike,
    clusters: npt.ArrayLike,
    pauses: Sequence[bool],
    options: ReclusterOptions,
) -> Labels:
    """Viterbi re-decoding of the unit sequence against the clusters' centroids.

    Emission: cosine similarity to each centroid / `temperature`; a switch between
    adjacent units costs `switch_penalty` (`pause_switch_penalty` when `pauses[i]` says
    a pause separates unit i from unit i-1). Ties go to the lower index.
    """
    e = _unit_rows(embeddings)
    lab = np.asarray(clusters, np.int64)
    n = e.shape[0]
    if n == 0 or lab.max() < 1:
        return lab.copy()
    k = int(lab.max()) + 1
    cents = _unit_rows(np.stack([e[lab == c].mean(axis=0) for c in range(k)]))
    score = (e @ cents.T) / options.temperature
    back = np.zeros((n, k), np.int64)
    acc = score[0].copy()
    for i in range(1, n):
        pen = options.pause_switch_penalty if pauses[i] else options.switch_penalty
        best_prev = int(np.argmax(acc))
        take_switch = acc[best_prev] - pen > acc
        back[i] = np.where(take_switch, best_prev, np.arange(k))
        acc = np.where(take_switch, acc[best_prev] - pen, acc) + score[i]
    out = np.empty(n, np.int64)
    out[-1] = int(np.argmax(acc))
    for i in range(n - 1, 0, -1):
        out[i - 1] = back[i, out[i]]
    return out


def refine_edges(
    embeddings: npt.ArrayLike,
    names: Sequence[str],
    weights: Sequence[float],
    pauses: Sequence[bool],
) -> list[str]:
    """Labels with each turn's first unit judged by the embedding that covers it alone.

    Unit i labels the newest part of the speech unit i embeds; unit i+1's embedding
    covers that same part too, unless a pause separates them (`pauses[i + 1]`, as in
    `smooth_labels`). Where their labels differ, one of the two embeddings straddles the
    change: the one farther from its own label's centroid (`cluster_centroids`) is taken
    to be it. If that is unit i, its speech takes unit i+1's label. Decided on the labels
    as given (no cascade: one unit per change at most).
    """
    e = _unit_rows(embeddings)
    cents = cluster_centroids(e, names, weights)
    dist = [1.0 - float(e[i] @ cents[n]) for i, n in enumerate(names)]
    out = list(names)
    for i in range(len(names) - 1):
        if not pauses[i + 1] and names[i] != names[i + 1] and dist[i + 1] < dist[i]:
            out[i] = names[i + 1]
    return out


def cluster_centroids(
    embeddings: npt.ArrayLike, clusters: Sequence[K], weights: Sequence[float]
) -> dict[K, npt.NDArray[np.float64]]:
    """Weighted mean direction of each cluster's embeddings (unit length); a cluster is
    any label (an index, a speaker's name)."""
    e = _unit_rows(embeddings)
    w = np.asarray(weights, np.float64)
    rows: dict[K, list[int]] = {}
    for i, c in enumerate(clusters):
        rows.setdefault(c, []).append(i)
    return {c: _unit_rows((e[r] * w[r, None]).sum(axis=0)) for c, r in rows.items()}


def map_labels(
    clusters: Sequence[int],
    current: Sequence[str],
    weights: Sequence[float],
    order: Sequence[str],
    fresh: int,
    centroids: Mapping[int, npt.NDArray[np.float64]] | None = None,
    anchors: Mapping[str, npt.NDArray[np.float64]] | None = None,
    join: float | None = None,
    veto: float | None = None,
) -> list[str]:
    """Name each cluster after an existing label where possible.

    Shared speech first: clusters and the labels their units carry are paired by
    Hungarian on the speech they share (with `veto`, a label whose anchor is farther
    than that from the cluster's centroid is not a candidate). Then, with `join`, the
    anchors: clusters without a name, or named after a label without an anchor, and
    the anchored labels not given to a cluster are paired by Hungarian on centroid-to-
    anchor distance; a pair within `join` takes the anchored name (a voice that came
    back). A cluster still without a name gets a fresh one. Without `centroids` and
    `anchors` only shared speech decides.

    Args:
        clusters: Cluster index per unit.
        current: The label each unit carries now.
        weights: Speech behind each unit (the match weight).
        order: Labels in issue order (ties between old labels go to the older).
        fresh: The number of the next fresh name (`speaker{fresh}`, `speaker{fresh+1}`...).
        centroids: Each cluster's unit-length centroid.
        anchors: Unit-length anchor per label, from its speech older than the window.
        join: Largest anchor distance that names a cluster.
        veto: Largest anchor distance at which shared speech may still name a cluster.

    Returns:
        The new label per unit.
    """
    from scipy.optimize import linear_sum_assignment

    ks = sorted({int(c) for c in clusters})
    rank = {label: i for i, label in enumerate(order)}

    def by_rank(labels: set[str]) -> list[str]:
        return sorted(labels, key=lambda x: (rank.get(x, len(rank)), x))

    dist: dict[tuple[int, str], float] = {}
    held = by_rank(set(anchors or ()))
    if centroids is not None and anchors:
        dist = {(k, h): 1.0 - float(centroids[k] @ anchors[h]) for k in ks for h in held}
    names: dict[int, str] = {}
    olds = by_rank(set(current))
    share = np.zeros((len(ks), max(1, len(olds))))
    for c, old, w in zip(clusters, current, weights, strict=True):
        if veto is None or dist.get((int(c), old), 0.0) <= veto:
            share[ks.index(int(c)), olds.index(old)] += w
    if olds:
        rows, cols = linear_sum_assignment(-share)
        for i, j in zip(rows, cols, strict=True):
            if share[i, j] > 0:
                names[ks[i]] = olds[j]
    if dist and join is not None:
        # clusters without a name, or named after a label with no past, may take the
        # past label of a voice that came back (one not already given to a cluster)
        open_ = [k for k in ks if names.get(k) not in held]
        free = [h for h in held if h not in names.values()]
        if open_ and free:
            d = np.array([[dist[(k, h)] for h in free] for k in open_])
            rows, cols = linear_sum_assignment(d)
            for i, j in zip(rows, cols, strict=True):
                if d[i, j] <= join:
                    names[open_[i]] = free[j]
    for k in ks:
        if k not in names:
            names[k] = f"speaker{fresh}"
            fresh += 1
    return [names[int(c)] for c in clusters]
