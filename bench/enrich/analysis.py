"""From send times and received transcripts to latency and WER, for our host and WhisperLive.

End of speech = the send time of the 100 ms chunk holding a phrase's last voiced sample
(from the sender's own record). A transcript is matched to the phrase it overlaps most
on the client's sample clock. Ours: the phrase is final when its `utterance` enrichment
arrives on the PUB stream (the last one, if the segmenter split it). WhisperLive: when
the segments covering it are marked `completed` (its final text); its first hypothesis
holding the phrase's last word is reported beside that.
"""

from __future__ import annotations

from typing import Any

from ambient_flow.cli.evaluate import normalize
from bench.core.stats import percentile, rounded
from bench.enrich.speech import SR, Phrase, Track

__all__ = ["latency_summary", "ours", "wer", "whisperlive"]


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return min(a1, b1) - max(a0, b0)


def _best_phrase(phrases: tuple[Phrase, ...], start_s: float, end_s: float) -> int | None:
    best, best_ov = None, 0.0
    for i, p in enumerate(phrases):
        ov = _overlap(start_s, end_s, p.start_s, p.end_s)
        if ov > best_ov:
            best, best_ov = i, ov
    return best


def wer(refs: list[str], hyps: list[str]) -> float | None:
    """Corpus WER over all clients (each client's reference and hypothesis concatenated)."""
    import jiwer

    pairs = [(normalize(r), normalize(h)) for r, h in zip(refs, hyps, strict=True) if r.strip()]
    if not pairs:
        return None
    return float(jiwer.wer([r for r, _ in pairs], [h for _, h in pairs]))


def ours(
    tracks: list[Track],
    sends: dict[str, list[int]],
    enrichments: list[tuple[int, dict[str, Any]]],
) -> dict[str, Any]:
    """Per phrase: PUB arrival of its utterance enrichment minus the send of its last word."""
    timed: list[tuple[int, float]] = []  # (send of the last word, latency ms)
    tail_ms: list[float] = []  # segmenter's end minus the last voiced sample
    missed = extra = 0
    refs, hyps = [], []
    speakers: list[int] = []
    per_phrase: list[dict[str, Any]] = []
    for tr in tracks:
        mine = [
            (ns, f)
            for ns, f in enrichments
            if f["client"] == tr.client and f["event_type"] == "utterance"
        ]
        labels = {
            f["speaker_prediction"]
            for _ns, f in enrichments
            if f["client"] == tr.client and f["speaker_prediction"]
        }
        speakers.append(len(labels))
        matched: dict[int, list[tuple[int, dict[str, Any]]]] = {}
        for ns, f in mine:
            start = int(f["sample_position"]) / SR
            end = int(f.get("end_sample") or f["sample_position"]) / SR
            i = _best_phrase(tr.phrases, start, end)
            if i is None:
                extra += 1
            else:
                matched.setdefault(i, []).append((ns, f))
        sent = sends.get(tr.client, [])
        for i, p in enumerate(tr.phrases):
            got = matched.get(i)
            if not got or p.last_chunk >= len(sent) or not sent[p.last_chunk]:
                missed += 1
                per_phrase.append({"client": tr.client, "phrase": i, "latency_ms": None})
                continue
            arrival = max(ns for ns, _ in got)
            ms = (arrival - sent[p.last_chunk]) / 1e6
            timed.append((sent[p.last_chunk], ms))
            last = max(got, key=lambda g: int(g[1].get("end_sample") or 0))[1]
            tail_ms.append((int(last.get("end_sample") or 0) - p.last_voiced_sample) / SR * 1e3)
            per_phrase.append({"client": tr.client, "phrase": i, "latency_ms": round(ms, 1)})
        refs.append(tr.reference())
        hyps.append(
            " ".join(
                (f["text_hypothesis"] or "")
                for _ns, f in sorted(mine, key=lambda x: x[1]["sample_position"])
            )
        )
    return {
        **latency_summary([ms for _, ms in sorted(timed)]),
        "phrases": sum(len(t.phrases) for t in tracks),
        "missed": missed,
        "extra_utterances": extra,
        "wer": rounded(wer(refs, hyps), 4),
        "utterance_end_after_last_word_ms_p50": rounded(percentile(tail_ms, 50), 0),
        "speaker_labels_per_client": speakers,
        "per_phrase": per_phrase,
    }


def latency_summary(lat_ms: list[float], prefix: str = "") -> dict[str, Any]:
    """p50/p90/max, and the medians of the first and last third (in send order): a
    system falling behind shows a last third slower than the first."""
    third = max(1, len(lat_ms) // 3)
    return {
        f"{prefix}latency_ms_p50": rounded(percentile(lat_ms, 50), 0),
        f"{prefix}latency_ms_p90": rounded(percentile(lat_ms, 90), 0),
        f"{prefix}latency_ms_max": rounded(max(lat_ms), 0) if lat_ms else None,
        f"{prefix}latency_ms_first_third_p50": rounded(percentile(lat_ms[:third], 50), 0),
        f"{prefix}latency_ms_last_third_p50": rounded(percentile(lat_ms[-third:], 50), 0),
    }


def whisperlive(tracks: list[Track], reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """WhisperLive's `completed` segments (final) and first hypotheses, per phrase."""
    final_ms: list[tuple[int, float]] = []
    first_ms: list[float] = []
    missed = extra = not_final = 0
    refs, hyps = [], []
    per_phrase: list[dict[str, Any]] = []
    for tr in tracks:
        rep = reports.get(tr.client)
        if rep is None:
            missed += len(tr.phrases)
            continue
        sent: list[int] = rep["sends_ns"]
        messages: list[tuple[int, list[dict[str, Any]]]] = rep["messages"]
        completed: dict[tuple[str, str, str], int] = {}
        for ns, segs in messages:
            for s in segs:
                key = (s["start"], s["end"], s["text"])
                if s.get("completed") and key not in completed:
                    completed[key] = ns
        spans = [
            (ns, float(a), float(b), normalize(t).split()) for (a, b, t), ns in completed.items()
        ]
        extra += sum(
            1
            for _ns, a, b, _w in spans
            if all(_overlap(a, b, p.start_s, p.end_s) <= 0 for p in tr.phrases)
        )
        for i, p in enumerate(tr.phrases):
            if p.last_chunk >= len(sent) or not sent[p.last_chunk]:
                missed += 1
                continue
            sent_ns = sent[p.last_chunk]
            first = next(
                (
                    ns
                    for ns, segs in messages
                    for s in segs
                    if _overlap(float(s["start"]), float(s["end"]), p.start_s, p.end_s) > 0
                    and p.last_word in normalize(s["text"]).split()
                ),
                None,
            )
            if first is not None:
                first_ms.append((first - sent_ns) / 1e6)
            # final: the first completed segment over the phrase that holds its last word
            # (a segment may span two phrases and finalize both); if the word was misheard,
            # the completed segment that overlaps the phrase most
            over = [(_overlap(a, b, p.start_s, p.end_s), ns, w) for ns, a, b, w in spans]
            over = [o for o in over if o[0] > 0]
            worded = [ns for _o, ns, w in over if p.last_word in w]
            final = min(worded) if worded else (max(over)[1] if over else None)
            if final is None:
                not_final += 1
                per_phrase.append({"client": tr.client, "phrase": i, "latency_ms": None})
            else:
                final_ms.append((sent_ns, (final - sent_ns) / 1e6))
                per_phrase.append(
                    {
                        "client": tr.client,
                        "phrase": i,
                        "latency_ms": round((final - sent_ns) / 1e6, 1),
                    }
                )
        text = [k[2] for k in sorted(completed, key=lambda k: float(k[0]))]
        if messages:  # what the client shows at the end: finals plus any unfinished tail
            text += [s["text"] for s in messages[-1][1] if not s.get("completed")]
        refs.append(tr.reference())
        hyps.append(" ".join(text))
    return {
        **latency_summary([ms for _, ms in sorted(final_ms)]),
        **{k: v for k, v in latency_summary(first_ms, "first_hyp_").items() if "third" not in k},
        "phrases": sum(len(t.phrases) for t in tracks),
        "never_final": not_final,
        "missed": missed,
        "extra_segments": extra,
        "wer": rounded(wer(refs, hyps), 4),
        "per_phrase": per_phrase,
    }
