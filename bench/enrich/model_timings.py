"""Each model alone, timed around the call: real-time factors of the embedded models."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.core.stats import median, rounded
from bench.enrich.context import Ctx, camera_frame
from bench.enrich.speech import SR

__all__ = ["model_timings"]


def model_timings(ctx: Ctx) -> dict[str, Any]:
    """VAD per 100 ms chunk, transcription per phrase, diarization per 0.5 s step (1 client
    and 4 batched), detection per 640x480 frame; medians of `plan.repeats`."""
    import cv2

    from ambient_flow.models.diarization import StepRequest

    m = ctx.loaded
    if m.detector is None:
        raise RuntimeError("no detector configured: the detection figure needs one")
    detector = m.detector
    track = ctx.tracks(1, ctx.plan.phrases)[0]
    audio = np.frombuffer(track.pcm, "<i2").astype(np.float32) / 32768.0
    seconds = audio.shape[0] / SR
    runs: dict[str, list[float]] = {
        "vad": [],
        "transcription": [],
        "diarization": [],
        "diarization_x4": [],
        "detection_ms": [],
    }
    bs = m.vad.block_samples
    blocks = audio[: audio.shape[0] // bs * bs].reshape(-1, bs)
    margin = 4800  # 0.3 s around each phrase
    phrases = [
        audio[max(0, p.start_sample - margin) : p.last_voiced_sample + margin]
        for p in track.phrases
    ]
    speech_s = sum(p.shape[0] for p in phrases) / SR
    window, step = 5 * SR, SR // 2
    ends = list(range(window, audio.shape[0] + 1, step))
    img: Any = cv2.imdecode(np.frombuffer(camera_frame()[0], np.uint8), cv2.IMREAD_COLOR)
    m.transcriber.transcribe(phrases[0], offset_s=0.0)  # warm-up (first call allocates)
    detector.detect([img])
    m.diarizer.step_many([StepRequest(m.diarizer.new_stream(), audio[:window], 0, None)])
    for _ in range(ctx.plan.repeats):
        st = m.vad.new_stream()
        t = time.perf_counter()
        for i in range(0, blocks.shape[0], 3):  # the flow asks per 100 ms chunk: ~3 blocks
            st.probabilities(blocks[i : i + 3])
        runs["vad"].append((time.perf_counter() - t) / seconds)
        t = time.perf_counter()
        for p in phrases:
            m.transcriber.transcribe(p, offset_s=0.0)
        runs["transcription"].append((time.perf_counter() - t) / speech_s)
        for batch, key in ((1, "diarization"), (4, "diarization_x4")):
            streams = [m.diarizer.new_stream() for _ in range(batch)]
            t = time.perf_counter()
            for end in ends:
                w = audio[end - window : end]
                m.diarizer.step_many([StepRequest(s, w, end - window, None) for s in streams])
            runs[key].append((time.perf_counter() - t) / (len(ends) * 0.5 * batch))
        t = time.perf_counter()
        for _ in range(10):
            detector.detect([img])
        runs["detection_ms"].append((time.perf_counter() - t) / 10 * 1e3)
    det_ms = median(runs["detection_ms"]) or 0.0
    return {
        "load_s": round(ctx.load_s, 2),
        "audio": f"{seconds:.1f} s espeak-ng track ({speech_s:.1f} s in phrases, 0.3 s margins)",
        "rtf": {
            "vad": rounded(median(runs["vad"]), 4),
            "transcription": rounded(median(runs["transcription"]), 4),
            "diarization": rounded(median(runs["diarization"]), 4),
            "diarization_batch4_per_client": rounded(median(runs["diarization_x4"]), 4),
            "detection_at_video_fps": rounded(det_ms * ctx.plan.video_fps / 1e3, 4),
        },
        "detection_ms_per_frame_640x480": rounded(det_ms, 1),
        "video_fps": ctx.plan.video_fps,
        "models": m.identities(),
        "runs": runs,
    }
