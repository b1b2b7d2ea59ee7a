"""A session's timeline as a picture: speakers over time, what they said, what was in view.

`ambient-flow inspect SESSION_DIR --plot out.png` draws, on the session's own clock:
the audio level, one lane per speaker with their utterances (and the words, shortened),
speaker changes, and how many people/faces the detector saw.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ambient_flow.protocol.constants import AUDIO_SAMPLE_RATE as SR

__all__ = ["plot_session", "session_summary"]


def _frames(session: Path) -> list[dict[str, Any]]:
    from ambient_flow.sinks.enrichment import read_enrichments

    return read_enrichments(session)


def _meta(session: Path) -> dict[str, Any]:
    path = session / "session.json"
    meta: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    return meta


def session_summary(session: Path) -> str:
    """A few lines a person can read about one session directory."""
    meta = _meta(session)
    frames = _frames(session)
    utterances = [f for f in frames if f["event_type"] == "utterance"]
    speakers = sorted({f["speaker_prediction"] for f in utterances if f["speaker_prediction"]})
    lines = [
        f"session  {meta.get('session')}  client {meta.get('client')}",
        f"time     {meta.get('started_at')} -> {meta.get('ended_at')} ({meta.get('end_reason')})",
        f"audio    {meta.get('audio_seconds', 0):.1f} s, "
        f"{meta.get('video_frames', 0)} video frames",
        f"lines    {len(frames)} in frames.jsonl ({len(utterances)} utterances, "
        f"speakers: {', '.join(speakers) or '-'})",
    ]
    for f in utterances:
        lines.append(
            f"  {f['timestamp']:7.2f}s  {f['speaker_prediction'] or '?':<9} {f['text_hypothesis']}"
        )
    return "\n".join(lines)


def plot_session(session: Path, out: Path) -> Path:
    """Draw the session's timeline to `out` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ambient_flow.sinks.wav import read_wav

    meta = _meta(session)
    frames = _frames(session)
    samples, sr = read_wav(session / "audio.wav")
    start = int(meta.get("first_start_sample") or 0)
    duration = max(samples.size / sr, 1.0)
    utterances = [f for f in frames if f["event_type"] == "utterance"]
    speakers = sorted({f["speaker_prediction"] or "?" for f in utterances}) or ["?"]
    colors = plt.get_cmap("tab10")

    fig, (ax_audio, ax_spk, ax_det) = plt.subplots(
        3, 1, figsize=(14, 2.2 + 0.7 * len(speakers)), sharex=True,
        gridspec_kw={"height_ratios": [1, max(1.5, 0.6 * len(speakers)), 0.8]},
    )  # fmt: skip
    hop = max(1, sr // 50)
    n = samples.size // hop
    if n:
        level = np.sqrt(np.mean(samples[: n * hop].reshape(n, hop) ** 2, axis=1))
        t = (np.arange(n) * hop) / sr
        ax_audio.fill_between(t, -level, level, color="0.4", linewidth=0)
    ax_audio.set_ylabel("level")
    ax_audio.set_title(f"{meta.get('session')}  ({meta.get('client')})", loc="left", fontsize=10)

    for f in utterances:
        who = f["speaker_prediction"] or "?"
        lane = speakers.index(who)
        t0 = (f["sample_position"] - start) / SR
        t1 = (f.get("end_sample", f["sample_position"]) - start) / SR
        ax_spk.barh(lane, t1 - t0, left=t0, height=0.6, color=colors(lane % 10), alpha=0.85)
        text = (f["text_hypothesis"] or "")[:60]
        ax_spk.text(t0 + 0.05, lane + 0.38, text, fontsize=7, va="bottom", clip_on=True)
    for f in frames:
        if f["event_type"] == "speaker_change":
            ax_spk.axvline((f["sample_position"] - start) / SR, color="0.7", lw=0.6, zorder=0)
    ax_spk.set_yticks(range(len(speakers)), speakers)
    ax_spk.set_ylim(-0.6, len(speakers) - 0.1)
    ax_spk.set_ylabel("speakers")

    det = [f for f in frames if f["event_type"] == "detections"]
    classes = sorted({c for f in det for c in f.get("counts", {})})
    for i, cls in enumerate(classes):
        xs = [(f["sample_position"] - start) / SR for f in det]
        ys = [f.get("counts", {}).get(cls, 0) for f in det]
        ax_det.step([*xs, duration], [*ys, ys[-1]], where="post", label=cls,
                    color=colors((i + 3) % 10))  # fmt: skip
    if classes:
        ax_det.legend(loc="upper right", fontsize=7)
    ax_det.set_ylabel("in view")
    ax_det.set_xlabel("seconds from session start")
    ax_det.set_xlim(0, duration)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
