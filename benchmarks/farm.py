"""Render farm scaling: throughput with 1, 2, 4 and 8 Ray workers for a backend of known cost.

A `sleep` upscaler registered here (never in the product) stands in for a GPU model: each frame
holds its worker for exactly `--cost` seconds, then a nearest-neighbour resize gives a frame of
the right size. Everything else is the real render: the scheduler here, `FrameWorker` actors
that decode the source, call the backend and store each frame in the cache by key. One local
Ray cluster with 8 CPU slots; for each worker count a fresh project of 16 frames a worker is
rendered `--runs` times, and the median is reported, side by side with the same render on
threads of this process (the local executor) as the baseline.

- efficiency against linear = (frames x cost / workers) / wall time;
- orchestration overhead per frame = wall time x workers / frames - cost: what a worker spends
  on a frame beyond the model (decode, store, the trip to and from the scheduler).

    python benchmarks/farm.py [--cost 1.0] [--runs 3]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import ray
from _common import SAMPLE

from sdhd_studio.core.project import OutputSettings
from sdhd_studio.ml import registry
from sdhd_studio.render.ray_executor import RayExecutor
from sdhd_studio.render.session import Session

COUNTS = (1, 2, 4, 8)
FRAMES_PER_WORKER = 16


def register_sleep(cost: float) -> None:
    """The stand-in backend, registered in this process and in every Ray worker process."""

    class Sleep:
        def upscale(self, image, size, settings, cancel):
            time.sleep(cost)
            return cv2.resize(image, size, interpolation=cv2.INTER_NEAREST)

    registry.register(registry.BackendSpec(
        name="sleep", kind="upscale", version="1", uses=frozenset(),
        factory=lambda runtime: Sleep(), description=f"sleeps {cost} s a frame",
    ))


def render(workdir: Path, workers: int, executor: RayExecutor | None) -> float:
    """Seconds to render 16 frames a worker of a fresh project."""
    session = Session.create(SAMPLE, workdir / f"p{time.monotonic_ns()}.sdhd",
                             output=OutputSettings(height=360), settings={"upscaler": "sleep"})
    frames = range(FRAMES_PER_WORKER * workers)
    started = time.perf_counter()
    summary = session.render(frames, workers=workers, executor=executor)
    seconds = time.perf_counter() - started
    assert (summary.rendered, summary.failed) == (len(frames), 0), summary
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cost", type=float, default=1.0, help="seconds a frame holds a worker")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cost = args.cost
    register_sleep(cost)
    started = time.perf_counter()
    ray.init(num_cpus=max(COUNTS), include_dashboard=False, log_to_driver=False,
             logging_level=logging.WARNING,
             runtime_env={"worker_process_setup_hook": lambda: register_sleep(cost)})
    print(f"local Ray cluster up in {time.perf_counter() - started:.1f} s")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in COUNTS:
            farm = RayExecutor(workers=workers)
            try:
                ray_times = [render(Path(tmp), workers, farm) for _ in range(args.runs)]
            finally:
                farm.shutdown()
            local_times = [render(Path(tmp), workers, None) for _ in range(args.runs)]
            rows.append((workers, statistics.median(ray_times), statistics.median(local_times)))
    ray.shutdown()
    base = rows[0][1]
    print(f"\n640x360 frames, {FRAMES_PER_WORKER} frames a worker, backend cost {cost:.3f} s a "
          f"frame, median of {args.runs} runs")
    print("| workers | frames | Ray wall s | frames/s | speed-up | efficiency vs linear | "
          "overhead ms/frame | threads here: wall s, efficiency, overhead ms/frame |")
    print("|---|---|---|---|---|---|---|---|")
    for workers, wall, local in rows:
        frames = FRAMES_PER_WORKER * workers
        ideal = frames * cost / workers
        print(f"| {workers} | {frames} | {wall:.2f} | {frames / wall:.2f} | "
              f"{base / wall * workers:.2f}x | {ideal / wall:.2f} | "
              f"{(wall * workers / frames - cost) * 1000:.1f} | "
              f"{local:.2f}, {ideal / local:.2f}, {(local * workers / frames - cost) * 1000:.1f} |")


if __name__ == "__main__":
    main()
