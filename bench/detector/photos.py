"""Real photos and video that ship in packages: which are negatives and which are
positives (hand-labelled boxes), their provenance and licence, and the variants made of
each (flip, letterbox, pasted into a test pattern, dimmed, blurred); the street video
`vtest.avi` with people boxed by background subtraction."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.detector.draw import (
    Box,
    H,
    Item,
    W,
    rcolor,
    sensor_noise,
    smpte_bars,
)
from bench.detector.negatives import (
    sender_pattern,
)

# ------------------------------------------------------------------ real images

# (file under assets, group, source, licence)
REAL_NEGATIVES_OPENCV = [
    "000.jpg",
    "001.jpg",
    "002.jpg",
    "Blender_Suzanne1.jpg",
    "HappyFish.jpg",
    "aero1.jpg",
    "aero3.jpg",
    "aloeL.jpg",
    "apple.jpg",
    "baboon.jpg",
    "blox.jpg",
    "board.jpg",
    "box.png",
    "box_in_scene.png",
    "building.jpg",
    "butterfly.jpg",
    "cards.png",
    "chessboard.png",
    "chicky_512.png",
    "detect_blob.png",
    "ela_original.jpg",
    "ellipses.jpg",
    "fruits.jpg",
    "gradient.png",
    "graf1.png",
    "graf3.png",
    "home.jpg",
    "imageTextN.png",
    "leuvenA.jpg",
    "leuvenB.jpg",
    "licenseplate_motion.jpg",
    "ml.png",
    "notes.png",
    "opencv-logo.png",
    "orange.jpg",
    "pic1.png",
    "pic2.png",
    "pic3.png",
    "pic4.png",
    "pic5.png",
    "pic6.png",
    "plant.jpg",
    "rubberwhale1.png",
    "scenetext02.jpg",
    "scenetext04.jpg",
    "scenetext05.jpg",
    "smarties.png",
    "squirrel_cls.jpg",
    "stanford.png",
    "starry_night.jpg",
    "stuff.jpg",
    "sudoku.png",
    "text_defocus.jpg",
    "text_motion.jpg",
    "LinuxLogo.jpg",
    "WindowsLogo.jpg",
    "pca_test1.jpg",
    "left.jpg",
    "right.jpg",
]
OPENCV_DOC = (
    "Debian opencv-doc 4.6.0+dfsg-12 (examples/data etc., from OpenCV's samples/data)",
    "Debian main; debian/copyright 'Files: *' = Apache-2.0 AND BSD-3-Clause (OpenCV's own "
    "licence); original photographers not recorded",
)
SKIMAGE = "scikit-image 0.25.2 wheel (PyPI), skimage/data"
REAL_NEGATIVES_OTHER = [
    ("skimage/coffee.png", SKIMAGE, "CC0 (Rachel Michetti), per skimage.data docstring"),
    ("skimage/chelsea.png", SKIMAGE, "CC0 (Stefan van der Walt), per skimage.data docstring"),
    ("skimage/rocket.jpg", SKIMAGE, "public domain (SpaceX), per skimage.data docstring"),
    ("skimage/brick.png", SKIMAGE, "CC0, per skimage.data docstring"),
    ("skimage/grass.png", SKIMAGE, "CC0 / public domain, per skimage.data docstring"),
    ("skimage/gravel.png", SKIMAGE, "CC0, per skimage.data docstring"),
    ("skimage/hubble_deep_field.jpg", SKIMAGE, "public domain (NASA), per skimage.data docstring"),
    ("skimage/moon.png", SKIMAGE, "public domain / skimage BSD-3, per skimage.data docstring"),
    (
        "skimage/coins.png",
        SKIMAGE,
        "public domain (Walters Art Museum), per skimage.data docstring",
    ),
    (
        "skimage/motorcycle_left.png",
        SKIMAGE,
        "Middlebury stereo 2014 (research use), per skimage.data docstring",
    ),
    ("skimage/page.png", SKIMAGE, "scikit-image BSD-3"),
    ("skimage/text.png", SKIMAGE, "public domain (Wikipedia), per skimage.data docstring"),
    ("skimage/color.png", SKIMAGE, "scikit-image BSD-3"),
    ("skimage/retina.jpg", SKIMAGE, "CC-BY (Häggström), per skimage.data docstring"),
    ("skimage/horse.png", SKIMAGE, "CC0 (openclipart), per skimage.data docstring"),
    ("skimage/logo.png", SKIMAGE, "scikit-image BSD-3"),
    ("skimage/clock_motion.png", SKIMAGE, "scikit-image BSD-3"),
    ("skimage/ihc.png", SKIMAGE, "public domain (Wikimedia), per skimage.data docstring"),
    (
        "scipy/face_raccoon.png",
        "scipy 1.11.4 wheel (PyPI), scipy/misc/face.dat",
        "public-domain-image.com (public domain), per scipy.misc.face docstring",
    ),
    (
        "sklearn/china.jpg",
        "scikit-learn (project venv), sklearn/datasets/images",
        "CC-BY 2.0 (danielbuechele)",
    ),
    (
        "sklearn/flower.jpg",
        "scikit-learn (project venv), sklearn/datasets/images",
        "CC-BY 2.0 (vultilion)",
    ),
]

ULTRA = (
    "ultralytics 8.4.190 (project venv), ultralytics/assets",
    "shipped in an AGPL-3.0 package; photo's own licence not stated (zidane.jpg is a press photo)",
)
# file: (source, licence, persons, faces, ignore_persons, ignore_faces, split)
REAL_POSITIVES: dict[
    str, tuple[tuple[str, str], list[Box], list[Box], list[Box], list[Box], str]
] = {
    "bus.jpg": (
        ULTRA,
        [[50, 398, 245, 905, "full"], [222, 405, 345, 860, "full"]],
        [[95, 410, 160, 476, "frontal"], [260, 420, 320, 480, "frontal"]],
        [[668, 480, 810, 880, "partial"], [0, 555, 78, 875, "partial"]],
        [[0, 570, 70, 640]],
        "tune",
    ),
    "zidane.jpg": (
        ULTRA,
        [[125, 200, 1150, 720, "partial"], [750, 40, 1110, 720, "partial"]],
        [[915, 105, 1070, 262, "frontal"]],
        [],
        [[470, 195, 670, 455], [0, 0, 1280, 720]],
        "heldout",
    ),
    "opencv_doc/basketball1.png": (
        (OPENCV_DOC[0], OPENCV_DOC[1]),
        [[35, 80, 192, 475, "full"], [425, 25, 640, 480, "partial"]],
        [[68, 86, 116, 136, "frontal"]],
        [],
        [[425, 25, 640, 480]],
        "tune",
    ),
    "opencv_doc/basketball2.png": (
        (OPENCV_DOC[0], OPENCV_DOC[1]),
        [[35, 80, 195, 475, "full"], [425, 25, 640, 480, "partial"]],
        [[68, 86, 116, 136, "frontal"]],
        [],
        [[425, 25, 640, 480]],
        "heldout",
    ),
    "opencv_doc/messi5.jpg": (
        (OPENCV_DOC[0], OPENCV_DOC[1]),
        [[70, 60, 460, 335, "full"]],
        [[222, 88, 268, 135, "frontal"]],
        [[0, 0, 548, 250, "crowd"]],
        [[0, 0, 548, 250]],
        "heldout",
    ),
    "skimage/camera.png": (
        (SKIMAGE, "CC0 (Lav Varshney), per skimage.data docstring"),
        [[0, 65, 335, 512, "partial"]],
        [],
        [],
        [[165, 75, 270, 205]],
        "heldout",
    ),
    "skimage/astronaut.png": (
        (SKIMAGE, "public domain (NASA), per skimage.data docstring"),
        [[25, 15, 370, 512, "partial"]],
        [[174, 63, 275, 164, "frontal"]],
        [],
        [],
        "tune",
    ),
    "grace_hopper.jpg": (
        (
            "matplotlib 3.8.4 (project venv), mpl-data/sample_data",
            "public domain (US Navy photo), per matplotlib's sample_data",
        ),
        [[20, 25, 512, 600, "partial"]],
        [[150, 103, 380, 333, "frontal"]],
        [],
        [],
        "heldout",
    ),
    "scipy/ascent.png": (
        (
            "scipy 1.11.4 wheel (PyPI), scipy/misc/ascent.dat",
            "public domain (public-domain-image.com), per scipy.misc.ascent docstring",
        ),
        [[398, 240, 512, 510, "partial"], [148, 285, 208, 440, "partial"]],
        [],
        [],
        [],
        "tune",
    ),
}
VTEST = (
    "Debian opencv-doc 4.6.0+dfsg-12, examples/data/vtest.avi (OpenCV samples/data)",
    OPENCV_DOC[1],
)


def group_split(group: str) -> str:
    digest = hashlib.sha256(group.encode()).digest()
    return "tune" if digest[0] % 2 == 0 else "heldout"


def read_asset(assets: Path, name: str) -> np.ndarray | None:
    path = assets / name
    if not path.is_file():
        print(f"warning: {path} missing, skipped", file=sys.stderr)
        return None
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if img is None else img


def transform_boxes(
    boxes: list[Box],
    sx: float,
    sy: float,
    dx: float,
    dy: float,
    w: int,
    h: int,
    flip: bool = False,
    min_keep: float = 0.75,
) -> tuple[list[Box], list[Box]]:
    """Scale + shift boxes into a new frame; boxes cut by the frame edge below min_keep go to
    ignore."""
    kept, ignored = [], []
    for b in boxes:
        x1, y1, x2, y2 = b[0] * sx + dx, b[1] * sy + dy, b[2] * sx + dx, b[3] * sy + dy
        if flip:
            x1, x2 = w - x2, w - x1
        cx1, cy1, cx2, cy2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
        if cx2 <= cx1 or cy2 <= cy1:
            continue
        frac = (cx2 - cx1) * (cy2 - cy1) / max(1e-6, (x2 - x1) * (y2 - y1))
        nb = [round(cx1, 1), round(cy1, 1), round(cx2, 1), round(cy2, 1), *list(b[4:])]
        (kept if frac >= min_keep else ignored).append(nb)
    return kept, ignored


def place(photo: np.ndarray, canvas: np.ndarray, scale: float, x: int, y: int) -> None:
    ph, pw = photo.shape[:2]
    small = cv2.resize(
        photo,
        (max(1, int(pw * scale)), max(1, int(ph * scale))),
        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
    )
    h, w = canvas.shape[:2]
    sh, sw = small.shape[:2]
    x2, y2 = min(w, x + sw), min(h, y + sh)
    canvas[y:y2, x:x2] = small[: y2 - y, : x2 - x]


def real_positive_variants(
    rng: np.random.Generator, name: str, img: np.ndarray, spec: tuple[Any, ...]
) -> Iterator[Item]:
    (source, licence), persons, faces, ign_p, ign_f, split = spec
    ign_p_boxes = [[*list(b[:4]), "ignore"] for b in ign_p]
    ign_f_boxes = [[*list(b[:4]), "ignore"] for b in ign_f]
    group = "real:" + name
    ih, iw = img.shape[:2]
    variants: list[tuple[str, np.ndarray, float, float, float, float, bool]] = []
    variants.append(("native", img, 1, 1, 0, 0, False))
    variants.append(("native_flip", img[:, ::-1].copy(), 1, 1, 0, 0, True))
    # letterboxed into 640x480 at a few scales (the wire's default size)
    for k, s in enumerate((1.0, 0.8, 0.6)):
        base = min(W / iw, H / ih) * s
        canvas = np.full(
            (H, W, 3), rcolor(rng, 0, 80) if rng.random() < 0.5 else (0, 0, 0), np.uint8
        )
        x, y = int((W - iw * base) / 2), int((H - ih * base) / 2)
        place(img, canvas, base, x, y)
        variants.append((f"letterbox{k}", canvas, base, base, x, y, False))
    # picture-in-picture over a synthetic sender frame
    for k in range(2):
        canvas = (
            sender_pattern(int(rng.integers(0, 5000)), W, H, "ambient-flow")
            if k == 0
            else smpte_bars(rng, W, H)
        )
        base = min(W / iw, H / ih) * rng.uniform(0.6, 0.9)
        x, y = int(rng.uniform(0, W - iw * base)), int(rng.uniform(0, H - ih * base))
        place(img, canvas, base, x, y)
        variants.append((f"pip{k}", canvas, base, base, x, y, False))
    # brightness / blur changes at native size
    dim = np.clip(
        img.astype(np.float32) * rng.uniform(0.5, 0.8) + rng.uniform(-10, 10), 0, 255
    ).astype(np.uint8)
    variants.append(("dim", dim, 1, 1, 0, 0, False))
    variants.append(("blur", cv2.GaussianBlur(img, (0, 0), 1.5), 1, 1, 0, 0, False))
    for vname, frame, sx, sy, dx, dy, flip in variants:
        h, w = frame.shape[:2]
        p, pi = transform_boxes(persons, sx, sy, dx, dy, w, h, flip)
        f, fi = transform_boxes(faces, sx, sy, dx, dy, w, h, flip)
        ip, _ = transform_boxes(ign_p_boxes, sx, sy, dx, dy, w, h, flip, 0)
        jf, _ = transform_boxes(ign_f_boxes, sx, sy, dx, dy, w, h, flip, 0)
        yield Item(
            frame,
            "positive",
            "real_photo",
            group,
            source,
            licence,
            p,
            f,
            ip + pi,
            jf + fi,
            notes=vname,
            split=split,
        )


def vtest_frames(assets: Path) -> tuple[list[np.ndarray], np.ndarray] | None:
    path = assets / "opencv_doc" / "vtest.avi"
    if not path.is_file():
        print(f"warning: {path} missing, vtest skipped", file=sys.stderr)
        return None
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    bg = np.median(np.stack(frames[::5]), axis=0).astype(np.uint8)
    return frames, bg


def moving_boxes(frame: np.ndarray, bg: np.ndarray) -> list[list[int]]:
    """People in vtest.avi by background subtraction (static camera; checked by eye on samples)."""
    d = cv2.absdiff(frame, bg).max(axis=2)
    m = (d > 40).astype(np.uint8) * 255
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    m = cv2.dilate(m, np.ones((9, 5), np.uint8))
    n, _, st, _ = cv2.connectedComponentsWithStats(m)
    out = []
    for k in range(1, n):
        x, y, w, h, a = (int(v) for v in st[k])
        if h >= 30 and a >= 300 and 0.15 < w / h < 1.2:
            out.append([x, y, x + w, y + h])
    return out


def vtest_items(
    rng: np.random.Generator, frames: list[np.ndarray], bg: np.ndarray
) -> Iterator[Item]:
    n = len(frames)
    half = n // 2
    for idx in range(3, n, 9):
        split = "tune" if idx < half else "heldout"
        group = f"vtest:{'A' if idx < half else 'B'}"
        frame = frames[idx]
        fh, fw = frame.shape[:2]
        raw = moving_boxes(frame, bg)
        boxes = []
        ignore = []
        for b in raw:
            touches = b[0] <= 1 or b[1] <= 1 or b[2] >= fw - 1 or b[3] >= fh - 1
            (ignore if touches or (b[3] - b[1]) < 45 else boxes).append([*b, "full"])
        # the full frame: people 50-150 px tall (small for HOG at max_side 640)
        yield Item(
            frame,
            "positive",
            "vtest_full",
            group,
            VTEST[0],
            VTEST[1],
            boxes,
            [],
            ignore,
            [],
            notes=f"frame {idx}",
            split=split,
        )
        # a 2x / 1.5x zoom around one person (a closer camera)
        if boxes:
            b = boxes[int(rng.integers(len(boxes)))]
            zoom = float(rng.choice([1.5, 2.0, 2.5]))
            cw, ch = int(fw / zoom), int(fh / zoom)
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            x0 = int(np.clip(cx - cw * rng.uniform(0.3, 0.7), 0, fw - cw))
            y0 = int(np.clip(cy - ch * rng.uniform(0.3, 0.7), 0, fh - ch))
            crop = cv2.resize(
                frame[y0 : y0 + ch, x0 : x0 + cw], (fw, fh), interpolation=cv2.INTER_CUBIC
            )
            p, pi = transform_boxes(boxes, zoom, zoom, -x0 * zoom, -y0 * zoom, fw, fh)
            ip, _ = transform_boxes(ignore, zoom, zoom, -x0 * zoom, -y0 * zoom, fw, fh, False, 0)
            yield Item(
                crop,
                "positive",
                "vtest_zoom",
                group,
                VTEST[0],
                VTEST[1],
                p,
                [],
                ip + pi,
                [],
                notes=f"frame {idx} zoom {zoom}",
                split=split,
            )
    # the median background: the same scene without people (a real negative)
    for k in range(16):
        zoom = float(rng.choice([1.0, 1.5, 2.0, 2.5]))
        fh, fw = bg.shape[:2]
        cw, ch = int(fw / zoom), int(fh / zoom)
        x0, y0 = int(rng.uniform(0, fw - cw + 1)), int(rng.uniform(0, fh - ch + 1))
        crop = cv2.resize(bg[y0 : y0 + ch, x0 : x0 + cw], (fw, fh), interpolation=cv2.INTER_CUBIC)
        yield Item(
            sensor_noise(crop, rng, 2),
            "negative",
            "real_photo_no_people",
            f"vtest_bg:{k % 2}",
            VTEST[0],
            VTEST[1],
            notes=f"median background zoom {zoom}",
            split="tune" if k % 2 == 0 else "heldout",
        )
