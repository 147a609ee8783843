"""Frame jobs on a Ray cluster: many machines render one project into one shared cache.

The scheduler runs here, as it does locally: it orders the jobs (nearest the focus first,
dependencies first), emits the events and counts the failures. Each job goes to a
`FrameWorker`, a Ray actor that holds one device (a GPU, or a CPU when the render does not use
GPUs) and keeps the models it loaded for as long as it lives. Workers read the source and write
finished frames into the cache by key (atomically), so both must be on storage that every
machine sees at the same path: a marker file written here and looked for there proves the cache
is. A frame made twice, by a retry or after a worker died just after storing it, is the same
file under the same name. Workers write nothing else: the render log and the failures stay
with the machine that runs the scheduler, and no worker takes the project's lock.

Faults: a worker that dies (killed, out of memory, its machine gone) loses the frames it held,
and they go to another worker, up to `TRIES` deaths a frame; Ray restarts the actor wherever
there is room, and it takes frames again once it answers. A worker that cannot make a frame
(the model is not on that machine, the source is not mounted there) refuses it with the reason
and the frame goes to another worker; when every worker refuses, the frame fails with the
reason. An error while making a frame fails it as it would locally.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdhd_studio import __version__
from sdhd_studio.core.cancel import CancelToken
from sdhd_studio.core.errors import BackendError, Cancelled, FarmError, MediaError
from sdhd_studio.core.recipe import RECIPE_VERSION
from sdhd_studio.core.source import Source
from sdhd_studio.media.fingerprint import check_source
from sdhd_studio.ml import registry
from sdhd_studio.ml.runtime import Runtime
from sdhd_studio.render.cache import FrameCache
from sdhd_studio.render.farm import FarmExecutor
from sdhd_studio.render.frame_job import FrameRenderer
from sdhd_studio.render.plan import FrameJob, Job

try:
    import ray
    from ray.exceptions import ActorUnschedulableError, ObjectLostError, RayActorError, RayError
except ImportError:
    raise FarmError('rendering on a farm needs Ray: pip install "sdhd-studio[farm]"') from None

log = logging.getLogger(__name__)

# How a call ends when its worker is gone: dead, its machine gone (with the result it had made),
# or no longer placeable. The frame goes to another worker.
_LOST = (RayActorError, ObjectLostError, ActorUnschedulableError)

TRIES = 3  # a frame whose worker dies this many times fails
DEPTH = 2  # calls queued per worker, so its next frame is there when one finishes
PATIENCE = 60.0  # seconds without any worker up before waiting frames fail
_POLL = 0.25  # seconds between looks at cancel and step progress while a frame renders
_STEPS_AFTER = 0.5  # ask a worker for step progress once a frame has taken this long
_GRACE = 10.0  # seconds a render's start waits for more workers once one is up


@dataclass(frozen=True)
class WorkerInfo:
    name: str  # "worker PID on NODE", as messages name it
    node: str
    pid: int
    gpus: tuple[str, ...]
    version: str
    # What decides the pixels a worker makes: a worker that differs would store other pixels
    # under the same keys, so it is not used.
    recipes: tuple[tuple[str, str], ...]


def _recipes() -> tuple[tuple[str, str], ...]:
    return (("recipe", str(RECIPE_VERSION)),
            *sorted((f"{s.kind}:{s.name}", s.version) for s in registry.backends()))


@dataclass(frozen=True)
class _Work:
    """What every job of one render shares. Small: it goes with each call, which costs less
    than a worker fetching it from this process by reference."""

    cache_root: str
    marker: str  # a file in cache_root that a worker sees only if it shares the cache
    source: Source
    runtime: Runtime


@ray.remote(max_restarts=-1, max_task_retries=0, concurrency_groups={"render": 1, "control": 1})
class FrameWorker:
    """One device's worker. Frames run one at a time (group "render"); cancel and step
    progress are answered meanwhile (group "control")."""

    def __init__(self) -> None:
        # Models come from this machine's folders (or shared ones its environment names) and
        # are never downloaded behind the user's back.
        os.environ["HF_HUB_OFFLINE"] = "1"
        self._node = ray.util.get_node_ip_address()
        self._name = f"worker {os.getpid()} on {self._node}"
        self._work: _Work | None = None
        self._renderer: FrameRenderer | None = None
        self._storage: str | None = None  # why this worker cannot use the render's files
        self._lock = threading.Lock()
        self._tokens: dict[str, CancelToken] = {}  # by call id
        self._cancelled: set[str] = set()  # calls cancelled before they started
        self._steps: dict[str, tuple[int, int]] = {}

    @ray.method(concurrency_group="control")
    def describe(self) -> WorkerInfo:
        return WorkerInfo(self._name, self._node, os.getpid(),
                          tuple(str(g) for g in ray.get_gpu_ids()), __version__, _recipes())

    @ray.method(concurrency_group="render")
    def render(self, work: _Work, job: Job, call: str, pictures: bool) -> tuple[str, Any]:
        """("done", picture(s) or None), ("refused", why), ("cancelled", None) or
        ("failed", the exception)."""
        with self._lock:
            if call in self._cancelled:
                self._cancelled.discard(call)
                return ("cancelled", None)
            root = self._tokens[call] = CancelToken()
        token = root.child(lambda done, total: self._steps.__setitem__(call, (done, total)))
        try:
            renderer = self._renderer_for(work)
            reason = self._storage or renderer.unusable(job) or _missing_masks(job)
            if reason:
                return ("refused", f"{self._name}: {reason}")
            result = renderer(job, token)
        except Cancelled:
            return ("cancelled", None)
        except Exception as exc:  # noqa: BLE001 - the frame fails with it, as it would locally
            return ("failed", exc)
        finally:
            with self._lock:
                self._tokens.pop(call, None)
                self._steps.pop(call, None)
        return ("done", result if pictures else None)

    @ray.method(concurrency_group="control")
    def cancel(self, call: str) -> None:
        with self._lock:
            token = self._tokens.get(call)
            if token is None:
                self._cancelled.add(call)
            else:
                token.cancel()

    @ray.method(concurrency_group="control")
    def steps(self, call: str) -> tuple[int, int] | None:
        return self._steps.get(call)

    def _renderer_for(self, work: _Work) -> FrameRenderer:
        if work != self._work or self._renderer is None:
            if self._renderer is not None:
                self._renderer.close()
            self._renderer = FrameRenderer(FrameCache(work.cache_root), work.source.info,
                                           work.runtime)
            self._work = work
            self._storage = _storage_problem(work)
        return self._renderer


def _storage_problem(work: _Work) -> str | None:
    if not (Path(work.cache_root) / work.marker).is_file():
        return (f"cannot see the render's cache {work.cache_root}: it must be on storage every "
                "worker shares, at the same path (--cache DIR)")
    try:
        check_source(work.source)
    except MediaError as exc:
        return f"source: {exc}"
    return None


def _missing_masks(job: Job) -> str | None:
    if not isinstance(job, FrameJob):
        return None
    masks = [job.mask, *(g.mask for g in job.guides), *(m for _, m in job.neighbours)]
    for mask in masks:
        if mask is not None and not os.path.isfile(mask.path):
            return (f"cannot read the mask {mask.path}: the project folder must be on storage "
                    "every worker shares")
    return None


@dataclass(eq=False)
class _Slot:
    handle: Any
    info: WorkerInfo | None = None
    busy: int = 0  # calls sent and not answered
    up: bool = False
    ping: Any = None  # a describe() call while the worker is not up
    pinged: float = 0.0


class RayExecutor(FarmExecutor):
    """Frame jobs on the workers of a Ray cluster.

    `address`: a cluster's address (`ray://HOST:10001`, `HOST:6379`), `local` or `local:N` to
    start a cluster on this machine with N worker processes (default: one per core), or None for
    the cluster this process is already on (as is an address that names that cluster).
    `device`: `cpu` makes one worker per CPU of the cluster; `cuda` one per GPU; `auto` one per
    GPU if the cluster has any, else one per CPU. `workers`: use at most this many.
    """

    def __init__(
        self, address: str | None = None, *, device: str = "auto", workers: int | None = None
    ) -> None:
        local = _local_workers(address) if address is not None else None
        self._owns_ray = _connect(address, local)
        self._recipes = _recipes()
        try:
            self._slots = _start_workers(device, workers or local, self._recipes)
        except BaseException:
            self._stop_ray()
            raise
        self._lock = threading.Lock()
        self._threads = ThreadPoolExecutor(self.workers, "sdhd-farm")
        self._calls = itertools.count()

    @property
    def workers(self) -> int:
        return len(self._slots) * DEPTH

    def worker_info(self) -> list[WorkerInfo]:
        """The workers taking frames now."""
        with self._lock:
            self._revive()
            return [s.info for s in self._slots if s.up and s.info is not None]

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        # The job's thread here only waits for its worker; the frame is made there.
        return self._threads.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._threads.shutdown(wait, cancel_futures=cancel_futures)
        for slot in self._slots:
            with contextlib.suppress(Exception):
                ray.kill(slot.handle)
        self._stop_ray()

    def renderer(
        self, cache: FrameCache, source: Source, runtime: Runtime, pictures: bool
    ) -> _RemoteRenderer:
        marker = f"farm-{uuid.uuid4().hex}.check"
        cache.root.mkdir(parents=True, exist_ok=True)
        (cache.root / marker).write_bytes(b"")
        work = _Work(str(cache.root), marker, source, runtime)
        return _RemoteRenderer(self, work, cache.root / marker, pictures)

    def _stop_ray(self) -> None:
        if self._owns_ray:
            ray.shutdown()

    # -- which worker takes a frame ----------------------------------------------------------

    def _take(self, refused: set[int], cancel: CancelToken) -> _Slot | None:
        """The least busy worker that is up and has not refused this frame; None when every
        worker that is up has refused it. Waits while no worker is up."""
        waited_since = time.monotonic()
        while True:
            with self._lock:
                self._revive()
                up = [i for i, s in enumerate(self._slots) if s.up]
                free = [i for i in up if i not in refused]
                if free:
                    slot = min((self._slots[i] for i in free), key=lambda s: s.busy)
                    slot.busy += 1
                    return slot
                if up:
                    return None
            cancel.check()
            if time.monotonic() - waited_since > PATIENCE:
                raise FarmError(f"no farm worker has been up for {PATIENCE:.0f} s")
            time.sleep(_POLL)

    def _index(self, slot: _Slot) -> int:
        return self._slots.index(slot)

    def _release(self, slot: _Slot) -> None:
        with self._lock:
            slot.busy -= 1

    def _down(self, slot: _Slot) -> None:
        with self._lock:
            slot.up, slot.ping = False, None

    def _revive(self) -> None:
        """Ask workers that died whether Ray has restarted them; those that answer are up."""
        now = time.monotonic()
        for slot in self._slots:
            if slot.up:
                continue
            if slot.ping is None:
                if now - slot.pinged > 1.0:
                    slot.ping, slot.pinged = slot.handle.describe.remote(), now
                continue
            if not ray.wait([slot.ping], timeout=0)[0]:
                continue
            try:
                info = ray.get(slot.ping)
            except RayError:
                slot.ping = None
                continue
            slot.ping = None
            if info.recipes == self._recipes:
                slot.info, slot.up = info, True


class _RemoteRenderer:
    """Sends each job to a worker and waits for it on the job's thread here.

    A worker's refusal is remembered for the rest of the render for every job with the same
    needs, so frames no worker can make fail at once instead of asking each worker again."""

    def __init__(self, farm: RayExecutor, work: _Work, marker: Path, pictures: bool) -> None:
        self._farm = farm
        self._work = work
        self._marker = marker
        self._pictures = pictures
        self._refusals: dict[str, dict[int, str]] = {}  # needs -> worker -> why it refused
        self._lock = threading.Lock()

    def __call__(self, job: Job, cancel: CancelToken) -> Any:
        needs = _needs(job)
        with self._lock:
            refused = dict(self._refusals.get(needs, {}))  # worker -> why it will not make it
        deaths = 0
        while True:
            cancel.check()
            slot = self._farm._take(set(refused), cancel)
            if slot is None:
                raise BackendError(f"no farm worker can make it: {next(iter(refused.values()))}")
            call = f"{job.key}:{next(self._farm._calls)}"
            try:
                outcome, value = self._wait(slot, job, call, cancel)
            except _LOST as exc:
                self._farm._down(slot)
                deaths += 1
                name = slot.info.name if slot.info else "a worker"
                if deaths >= TRIES:
                    raise FarmError(f"its farm worker died on each of {deaths} tries "
                                    f"(last: {name}: {_first_line(exc)})") from None
                log.warning("frame %d: %s died (%s); another worker takes it",
                            job.index, name, _first_line(exc))
                continue
            finally:
                self._farm._release(slot)
            if outcome == "done":
                return value
            if outcome == "cancelled":
                raise Cancelled("cancelled")
            if outcome == "failed":
                raise value
            refused[self._farm._index(slot)] = value
            with self._lock:
                self._refusals.setdefault(needs, {})[self._farm._index(slot)] = value

    def _wait(self, slot: _Slot, job: Job, call: str, cancel: CancelToken) -> tuple[str, Any]:
        ref = slot.handle.render.remote(self._work, job, call, self._pictures)
        sent = time.monotonic()
        asked_steps = None
        cancelling = False
        while True:
            if ray.wait([ref], timeout=_POLL)[0]:
                return ray.get(ref)
            if cancel.cancelled and not cancelling:
                slot.handle.cancel.remote(call)  # stops it within a step; then it answers
                cancelling = True
            if cancelling:
                continue
            if asked_steps is not None and ray.wait([asked_steps], timeout=0)[0]:
                with contextlib.suppress(RayError, Cancelled):
                    step = ray.get(asked_steps)
                    if step is not None:
                        cancel.step(*step)
                asked_steps = None
            if asked_steps is None and time.monotonic() - sent > _STEPS_AFTER:
                asked_steps = slot.handle.steps.remote(call)

    def close(self) -> None:
        self._marker.unlink(missing_ok=True)


def _needs(job: Job) -> str:
    """What a worker needs to make `job` beyond the render's own files: backends with their
    settings, and mask files."""
    if isinstance(job, FrameJob):
        masks = [job.mask, *(g.mask for g in job.guides), *(m for _, m in job.neighbours)]
        return repr((job.upscaler, sorted(job.upscale_settings.items()), job.inpainter,
                     sorted((job.inpaint_settings or {}).items()),
                     sorted({repr((g.inpainter, g.inpaint_settings)) for g in job.guides}),
                     sorted({m.path for m in masks if m is not None})))
    return repr((job.interpolator, sorted(job.settings.items())))


def _local_workers(address: str) -> int | None:
    """N for `local:N` (`local`: one per core); None for a cluster's address."""
    name, _, count = address.partition(":")
    if name != "local":
        return None
    if not count:
        return os.cpu_count() or 1
    if not count.isdigit() or int(count) < 1:
        raise FarmError(f"--ray local:N needs a number of workers of at least 1, got {count!r}")
    return int(count)


def _connect(address: str | None, local: int | None) -> bool:
    """Connect this process to Ray; True when it started a cluster (and must stop it)."""
    if ray.is_initialized():
        joined = ray.get_runtime_context().gcs_address
        if address in (None, joined):  # the editor joining the cluster it is on again
            return False
        raise FarmError(f"this process is already on the Ray cluster at {joined}")
    if address is None:
        raise FarmError("not connected to a Ray cluster")
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                               "logging_level": logging.WARNING}
    try:
        if local is not None:
            ray.init(num_cpus=local, **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise FarmError(f"cannot reach the Ray cluster at {address}: {_first_line(exc)}") from None
    return True


def _start_workers(
    device: str, limit: int | None, ours: tuple[tuple[str, str], ...]
) -> list[_Slot]:
    """One worker per device of the cluster (at most `limit`); waits until they answer."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0)) if device != "cpu" else 0
    if device == "cuda" and not gpus:
        raise FarmError("--device cuda: the Ray cluster has no GPU")
    count = gpus or int(resources.get("CPU", 0))
    if limit:
        count = min(count, limit)
    if count < 1:
        raise FarmError("the Ray cluster has no CPU or GPU to give a worker")
    worker = FrameWorker.options(num_cpus=1, num_gpus=1 if gpus else 0)
    slots = [_Slot(worker.remote()) for _ in range(count)]
    pings = {slot.handle.describe.remote(): slot for slot in slots}
    # The first worker may wait for a machine to start; the others are not waited for long
    # (the cluster may be busy with other work): they take frames once they answer.
    answered, pending = ray.wait(list(pings), num_returns=1, timeout=PATIENCE)
    if answered and pending:
        answered += ray.wait(pending, num_returns=len(pending), timeout=_GRACE)[0]
    others = []
    for ref in answered:
        slot = pings[ref]
        with contextlib.suppress(RayError):
            info = ray.get(ref)
            if info.recipes == ours:
                slot.info, slot.up = info, True
            else:
                others.append(info)
    for ref, slot in pings.items():
        if ref not in answered:  # not placed yet: it is taken on once it answers
            slot.ping, slot.pinged = ref, time.monotonic()
    if not any(slot.up for slot in slots):
        if others:
            raise FarmError(f"the farm's workers run sdhd {others[0].version} with other backend "
                            f"versions than this machine's sdhd {__version__}: install the same "
                            "version everywhere")
        raise FarmError(f"no farm worker started within {PATIENCE:.0f} s")
    if others:
        log.warning("%d farm workers run other backend versions and are not used",
                    len(others))
    return slots


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

