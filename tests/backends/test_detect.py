"""Detection backends: OpenCV HOG + Haar on real photos, YOLO on a random yolo11n checkpoint."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from ambient_flow.backends.detect import (
    HAAR_FRONTALFACE_SHA256,
    OpenCVDetector,
    OpenCVDetectorOptions,
    YoloDetector,
    YoloOptions,
)
from ambient_flow.errors import ConfigError, StartupError
from ambient_flow.models.detection import Detection, detections_to_dicts


def package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        pytest.skip(f"{package} not installed")
    path = Path(spec.origin).parent.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"{path} not shipped")
    return path


def read(path: Path) -> npt.NDArray[np.uint8]:
    image = cv2.imread(str(path))
    assert image is not None
    return np.asarray(image, np.uint8)


@pytest.fixture(scope="module")
def opencv() -> OpenCVDetector:
    detector = OpenCVDetector()
    detector.load()
    return detector


def assert_well_formed(frame: tuple[Detection, ...], width: int, height: int) -> None:
    for det in frame:
        x1, y1, x2, y2 = det.bbox
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert 0.0 <= det.confidence <= 1.0
    for item in detections_to_dicts(frame):
        assert set(item) == {"class", "bbox", "confidence"}
        assert len(item["bbox"]) == 4 and all(isinstance(v, float) for v in item["bbox"])


# --------------------------------------------------------------------------- OpenCV default


def test_opencv_identity_records_the_cascade_sha256(opencv: OpenCVDetector) -> None:
    identity = opencv.identity
    assert identity.sha256 == {"haarcascade_frontalface_default.xml": HAAR_FRONTALFACE_SHA256}
    assert identity.kind == "detection"


def test_haar_finds_the_face_in_a_real_portrait(opencv: OpenCVDetector) -> None:
    # matplotlib ships a photograph of Grace Hopper (512x600, face around x 155-377, y 105-327).
    image = read(package_file("matplotlib", "mpl-data", "sample_data", "grace_hopper.jpg"))
    (frame,) = opencv.detect([image])
    faces = [d for d in frame if d.class_name == "face"]
    assert len(faces) == 1
    x1, y1, x2, y2 = faces[0].bbox
    assert 120 < x1 < 200 and 70 < y1 < 150 and 330 < x2 < 420 and 280 < y2 < 370
    assert_well_formed(frame, image.shape[1], image.shape[0])


def test_hog_finds_people_in_a_real_street_photo(opencv: OpenCVDetector) -> None:
    # ultralytics ships bus.jpg (810x1080): pedestrians in front of a bus. The frame is
    # larger than max_side, so this also checks that boxes map back to full resolution.
    image = read(package_file("ultralytics", "assets", "bus.jpg"))
    (frame,) = opencv.detect([image])
    people = [d for d in frame if d.class_name == "person"]
    assert people, frame
    assert any(d.bbox[3] - d.bbox[1] > 300 for d in people)  # full-resolution pixels
    assert_well_formed(frame, image.shape[1], image.shape[0])


def test_noise_and_blank_frames_give_empty_results(opencv: OpenCVDetector) -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    blank = np.zeros((480, 640, 3), np.uint8)
    tiny = np.zeros((20, 20, 3), np.uint8)
    assert opencv.detect([noise, blank, tiny]) == [(), (), ()]
    assert opencv.detect([]) == []


def test_opencv_batch_keeps_order_and_restores_thread_count(opencv: OpenCVDetector) -> None:
    portrait = read(package_file("matplotlib", "mpl-data", "sample_data", "grace_hopper.jpg"))
    blank = np.zeros((480, 640, 3), np.uint8)
    before = cv2.getNumThreads()
    out = opencv.detect([blank, portrait, blank])
    assert cv2.getNumThreads() == before
    assert out[0] == () and out[2] == () and any(d.class_name == "face" for d in out[1])


def test_bad_images_raise(opencv: OpenCVDetector) -> None:
    with pytest.raises(ValueError, match="BGR uint8"):
        opencv.detect([np.zeros((10, 10), np.uint8)])
    with pytest.raises(ValueError, match="BGR uint8"):
        opencv.detect([np.zeros((10, 10, 3), np.float32)])  # type: ignore[list-item,unused-ignore]


def test_cascade_failures_are_startup_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.xml"
    with pytest.raises(StartupError, match=str(missing)):
        OpenCVDetector(OpenCVDetectorOptions(cascade_path=missing)).load()
    bad = tmp_path / "bad.xml"
    bad.write_text("<opencv_storage>nothing</opencv_storage>")
    with pytest.raises(StartupError, match=f"{bad}: not a valid cascade"):
        OpenCVDetector(OpenCVDetectorOptions(cascade_path=bad)).load()
    with pytest.raises(StartupError, match="sha256"):
        OpenCVDetector(OpenCVDetectorOptions(cascade_path=bad, expected_sha256="0" * 64)).load()


def test_detection_shape_and_validation() -> None:
    det = Detection("person", (1.0, 2.0, 3.0, 4.0), 0.9)
    assert det.to_dict() == {"class": "person", "bbox": [1.0, 2.0, 3.0, 4.0], "confidence": 0.9}
    with pytest.raises(ValueError, match="bbox"):
        Detection("x", (3.0, 2.0, 1.0, 4.0), 0.5)
    with pytest.raises(ValueError, match="confidence"):
        Detection("x", (1.0, 2.0, 3.0, 4.0), 1.5)
    with pytest.raises(ConfigError):
        OpenCVDetectorOptions(people=False, faces=False)


# --------------------------------------------------------------------------- YOLO


@pytest.fixture(scope="module")
def yolo_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random yolo11n built from ultralytics' packaged yaml, saved as a real .pt."""
    from ambient_flow.backends.base import offline_environment

    root = tmp_path_factory.mktemp("yolo")
    offline_environment(root / "config")
    from ultralytics.models import YOLO

    path = root / "yolo11n-random.pt"
    YOLO("yolo11n.yaml").save(str(path))
    return path


@pytest.fixture(scope="module")
def yolo(yolo_weights: Path) -> YoloDetector:
    # A random model's scores are tiny: a near-zero threshold makes it output boxes.
    detector = YoloDetector(YoloOptions(weights=yolo_weights, confidence=1e-4, threads=2))
    detector.load()
    return detector


def test_yolo_random_checkpoint_outputs_well_formed_boxes(yolo: YoloDetector) -> None:
    import torch

    image = read(package_file("ultralytics", "assets", "bus.jpg"))
    small = np.asarray(cv2.resize(image, (640, 480)), np.uint8)
    torch.set_num_threads(1)
    try:
        out = yolo.detect([image, small])
        assert torch.get_num_threads() == 1  # predict's global change was undone
    finally:
        torch.set_num_threads(2)
    assert len(out) == 2
    assert out[0] and out[1]
    names = set(yolo.names.values())
    for frame, img in zip(out, [image, small], strict=True):
        assert len(frame) <= 100
        assert all(d.class_name in names for d in frame)
        assert_well_formed(frame, img.shape[1], img.shape[0])
    assert (
        yolo.identity.sha256[yolo.options.weights.name] == yolo.identity.sha256["yolo11n-random.pt"]
    )


def test_yolo_class_filter(yolo_weights: Path) -> None:
    detector = YoloDetector(
        YoloOptions(weights=yolo_weights, confidence=1e-4, classes=("0",), threads=2)
    )
    (frame,) = detector.detect([np.full((480, 640, 3), 127, np.uint8)])
    assert all(d.class_name == "0" for d in frame)
    with pytest.raises(StartupError, match="unknown classes"):
        YoloDetector(YoloOptions(weights=yolo_weights, classes=("unicorn",))).load()


def test_yolo_failures_are_startup_errors(tmp_path: Path) -> None:
    missing = tmp_path / "yolo11n.pt"  # a hub name's file: must not be downloaded
    with pytest.raises(StartupError, match=f"{missing}: no such file"):
        YoloDetector(YoloOptions(weights=missing)).load()
    assert not missing.exists()
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00not a checkpoint" * 50)
    with pytest.raises(StartupError, match=f"{corrupt}: cannot load"):
        YoloDetector(YoloOptions(weights=corrupt)).load()
    with pytest.raises(ConfigError):
        YoloOptions(weights=Path("yolo11n"))
    with pytest.raises(ConfigError):
        YoloOptions(weights=Path("a.pt"), imgsz=100)
