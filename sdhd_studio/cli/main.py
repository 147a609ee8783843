"""`sdhd`: everything the editor does, headless.

Errors a user can fix print one line and exit 1; nothing is changed by a command that fails.
Commands with `--json` print one JSON object as their last line, for scripts. Engine imports
happen inside the commands so `sdhd --help` stays instant.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import shutil
import signal
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, NoReturn

from sdhd_studio.core.build import version_text
from sdhd_studio.core.errors import Cancelled, SdhdError
from sdhd_studio.core.source import COLOUR_MATRICES, DEINTERLACE_MODES, FIELD_ORDERS, IVTC_MODES


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="sdhd: warning: %(message)s")
    try:
        return args.command(args) or 0
    except Cancelled:
        print("sdhd: cancelled", file=sys.stderr)
        return 130
    except SdhdError as exc:
        print(f"sdhd: error: {exc}", file=sys.stderr)
        return 1


# -- commands --------------------------------------------------------------------------------


def cmd_new(args: argparse.Namespace) -> int:
    from sdhd_studio.render.session import Session

    with _making_project(args) as cancel:
        session = Session.create(
            args.source, args.output, output=_output_settings(args), settings=_settings(args),
            conditioning=_conditioning(args), cancel=cancel,
        )
    _place_keyframes(session, args)
    _report(args, _info(session), f"created {session.folder.path}")
    return 0


def cmd_source(args: argparse.Namespace) -> int:
    session = _open(args.project)
    chosen = {k: v for k, v in _conditioning(args).items() if v is not None}
    if chosen:
        session.set_source_frames(chosen)
    info = _info(session)
    _report(args, info["source"], f"{info['source']['frames']} frames at "
            f"{info['source']['fps']} fps; keyframes at "
            f"{_format_list([kf['frame'] for kf in info['keyframes']]) or 'none'}")
    return 0


def cmd_keyframe_auto(args: argparse.Namespace) -> int:
    session = _open(args.project)
    frames = session.add_keyframes(args.every, at_cuts=not args.no_cuts)
    _report(args, {"keyframes": frames, "cuts": sorted(session.project.cuts)},
            f"{len(frames)} keyframes: {_format_list(frames)}; cuts: "
            f"{_format_list(sorted(session.project.cuts)) or 'none'}")
    return 0


def cmd_cut(args: argparse.Namespace) -> int:
    from sdhd_studio.core import edits

    session = _open(args.project)
    if args.action == "detect":
        found = session.detect_cuts()
        project = session.project
        for frame in found:
            project = edits.set_cut(project, frame)
        session.edit("Detect cuts", lambda _: project)
    else:
        on = args.action == "set"
        frame = _frame(session, args.frame)
        session.edit(f"{'Cut' if on else 'No cut'} at frame {frame}", edits.set_cut, frame, on)
    cuts = sorted(session.project.cuts)
    _report(args, {"cuts": cuts}, f"cuts: {_format_list(cuts) or 'none'}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    session = _open(args.project)
    info = _info(session)
    if args.json:
        print(json.dumps(info))
        return 0
    src = info["source"]
    out = info["output"]
    print(f"project   {info['project']}")
    print(f"source    {src['path']}")
    print(f"          {src['width']}x{src['height']} {src['codec']} {src['pix_fmt']}, "
          f"{src['fps']} fps ({src['fps_float']:.3f}){' VFR' if src['vfr'] else ''}, "
          f"{src['frames']} frames, {src['duration']:.2f} s, "
          f"{len(src['audio'])} audio stream(s)")
    for track, audio in enumerate(session.project.source.info.audio, 1):
        print(f"          {audio.describe(track)}")
    if src["analysis"] is not None:
        a, c = src["analysis"], src["conditioning"]
        scan = a["scan"] + (f" {a['field_order']}" if a["scan"] != "progressive" else "")
        print(f"scan      {scan}{' ' + a['cadence'] if a['cadence'] else ''} (comb "
              f"{a['comb']:+.2f} over {a['sampled']} frames; flagged {a['flagged_order']}); "
              f"colour {a['matrix']} {'full' if a['full_range'] else 'limited'} range, "
              f"{a['primaries']}/{a['transfer']}{'' if a['colour_tagged'] else ' (untagged)'}")
        mode = {"progressive": "as it is", "double": "deinterlaced, one frame per field"
                + (", along the motion" if c["motion"] else ""),
                "single": "deinterlaced, one frame per picture",
                "ivtc": "film frames (inverse telecine)"}[c["mode"]]
        print(f"frames    {mode} ({c['order'] if c['mode'] != 'progressive' else 'no fields'}; "
              f"--field-order {c['field_order']} --deinterlace {c['deinterlace']} "
              f"--ivtc {c['ivtc']} --colour-matrix {c['colour_matrix']})")
    sound = f"audio {out['audio_track']}" if out["audio"] and src["audio"] else "no audio"
    print(f"output    {out['width']}x{out['height']}, {out['fps']} fps, "
          f"{out['codec']} crf {out['crf']} {out['preset']}, {sound}")
    print(f"defaults  {_format_settings(info['defaults'])}")
    for kf in info["keyframes"]:
        print(f"keyframe  {kf['frame']}: {_format_settings(kf['settings'])}")
    for m in info["masks"]:
        first = m["frame"] if m["start"] is None else m["start"]
        print(f"mask      frames {first}-{m['end']}, painted on {m['frame']}"
              f"{', tracked' if m['track'] else ''}"
              f"{' (' + m['inpainter'] + ')' if m['inpainter'] else ''}")
    if info["cuts"]:
        print(f"cuts      {_format_list(info['cuts'])}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from sdhd_studio.render.status import FrameState, ranges

    session = _open(args.project)
    if args.cache:
        session.use_cache(args.cache)
    cached = session.cache.keys()
    status = session.status(cached)
    counts = status.counts()
    todo = ranges(status.frames_in(FrameState.EMPTY, FrameState.DIRTY, FrameState.FAILED))
    failed = {int(i): status.errors[int(i)] for i in status.frames_in(FrameState.FAILED)}
    count, size = session.cache.size()
    between = [k for pair in session.plan().pairs for _, k in pair.outputs]
    result = {
        "frames": len(status),
        "counts": counts,
        "in_between": {"total": len(between), "done": sum(k in cached for k in between)},
        "todo_ranges": [list(r) for r in todo],
        "failed": failed,
        "cache_entries": count,
        "cache_bytes": size,
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{len(status)} frames: "
          + ", ".join(f"{n} {state}" for state, n in counts.items() if n))
    if between:
        print(f"in-between frames: {result['in_between']['done']} of {len(between)} done")
    if todo:
        print("to render: " + _format_ranges(todo))
    for index, message in list(failed.items())[:20]:
        print(f"failed frame {index}: {message}")
    print(f"cache: {count} frames, {size / 1e6:.1f} MB")
    return 0


def cmd_keyframe_set(args: argparse.Namespace) -> int:
    from sdhd_studio.core import edits

    session = _open(args.project)
    frame = _frame(session, args.frame)
    session.edit(f"Set keyframe {frame}", edits.set_keyframe, frame, _settings(args),
                 args.interpolate or ())
    _report(args, {"keyframe": frame}, f"keyframe {frame} set")
    return 0


def cmd_keyframe_rm(args: argparse.Namespace) -> int:
    from sdhd_studio.core import edits

    session = _open(args.project)
    frame = _frame(session, args.frame)
    session.edit(f"Remove keyframe {frame}", edits.remove_keyframe, frame)
    _report(args, {"removed": frame}, f"keyframe {frame} removed")
    return 0


def cmd_mask_set(args: argparse.Namespace) -> int:
    from sdhd_studio.core import edits
    from sdhd_studio.media.images import encode_png, read_mask

    session = _open(args.project)
    project = session.project
    frame = _frame(session, args.frame)
    until = None if args.until is None else _frame(session, args.until)
    start = None if args.start is None else _frame(session, args.start)
    info = project.source.info
    mask = read_mask(args.mask, (info.width, info.height))
    if args.hold is not None:
        if args.hold < 1:
            raise SdhdError("--hold must be at least 1 frame")
        end = min(frame + args.hold - 1, project.frame_count - 1)
    else:
        end = frame if until is None else until
    digest = session.store_mask(encode_png(mask))
    if not args.track:
        if start is not None:
            raise SdhdError("--start needs --track: a held mask starts on the frame it is on")
        session.edit(f"Set mask on frame {frame}", edits.set_mask, frame, digest, end,
                     args.inpainter)
        _report(args, {"mask": frame, "start": frame, "end": end, "digest": digest},
                f"mask on frames {frame}-{end}")
        return 0
    report = session.track_mask(frame, digest, end, start, args.inpainter)
    for warning in report.warnings:
        print(f"sdhd: warning: {warning}", file=sys.stderr)
    _report(args, {"mask": frame, "start": report.first, "end": report.last, "digest": digest,
                   "warnings": report.warnings},
            f"mask tracked over frames {report.first}-{report.last}")
    return 0


def cmd_mask_rm(args: argparse.Namespace) -> int:
    from sdhd_studio.core import edits

    session = _open(args.project)
    frame = _frame(session, args.frame)
    session.edit(f"Remove mask on frame {frame}", edits.remove_mask, frame)
    _report(args, {"removed": frame}, f"mask on frame {frame} removed")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from sdhd_studio.cli.progress import ProgressBar

    session = _open(args.project)
    frames = _parse_frames(session, args.frames) if args.frames else None
    bar = ProgressBar("render", enabled=not args.json)
    with _exclusive(session, args), _farm(session, args) as executor, \
            _cancel_on_interrupt() as cancel:
        try:
            summary = session.render(frames, workers=args.workers, on_event=bar.on_event,
                                     cancel=cancel, runtime=_runtime(args), executor=executor)
        finally:
            bar.close()
    result = {
        "rendered": summary.rendered,
        "cached": summary.cached,
        "failed": summary.failed,
        "cancelled": summary.cancelled,
        "seconds": round(summary.seconds, 3),
        "errors": {str(i): m for i, m in sorted(summary.errors.items())},
        "interpolation_errors": {
            str(i): m for i, m in sorted(summary.interpolation_errors.items())
        },
    }
    if args.json:
        print(json.dumps(result))
    else:
        for index, message in sorted(summary.errors.items())[:20]:
            print(f"failed frame {index}: {message}", file=sys.stderr)
        for index, message in sorted(summary.interpolation_errors.items())[:20]:
            print(f"failed in-between frames after {index}: {message}", file=sys.stderr)
        print(f"rendered {summary.rendered}, cached {summary.cached}, failed {summary.failed} "
              f"in {summary.seconds:.1f} s")
    if summary.cancelled:
        print(f"sdhd: render cancelled; the {summary.rendered} frames rendered are kept: run "
              f"`sdhd render {args.project}` again to render the rest", file=sys.stderr)
        return 130
    return 1 if summary.failed else 0


def cmd_export(args: argparse.Namespace) -> int:
    session = _open(args.project)
    with _exclusive(session, args):
        result = _export(session, args, args.output)
    _report(args, result, f"wrote {result['path']}")
    return 0


def cmd_upscale(args: argparse.Namespace) -> int:
    from sdhd_studio.cli.upscale_project import UpscaleProject
    from sdhd_studio.render.export import check_output

    check_output(args.output, args.source, args.codec or "h264")  # before making a project
    with _making_project(args) as cancel:
        work = UpscaleProject.take(
            args.source, args.project or Path(args.output).with_suffix(".sdhd"),
            _settings(args), _output_changes(args), args.keyframe_every, _conditioning(args),
            cancel,
        )
    session = work.session
    if work.resumed:
        print(f"sdhd: {work.resumed}", file=sys.stderr)
    with _exclusive(session, args):
        if work.created:
            _place_keyframes(session, args)
        # A working project removed afterwards need not keep what is cheaper to remake.
        removed = work.owned and not args.keep_project
        result = _export(session, args, Path(args.output), keep_cheap=not removed)
    if not args.keep_project:
        work.remove()
    _report(args, result, f"wrote {result['path']}")
    return 0


def cmd_live(args: argparse.Namespace) -> int:
    from sdhd_studio.render.export import check_output
    from sdhd_studio.render.live import LiveSession, realtime_upscale

    check_output(args.output, args.source, "h264")  # before a device is opened
    session = LiveSession(args.source, realtime_upscale(_runtime(args)), record=args.output)
    with _cancel_on_interrupt() as token:
        stats = session.run(args.seconds, token)
    source, result = session.record
    _report(args, {**stats.as_dict(), "source_recording": str(source), "output": str(result)},
            f"{stats.processed} of {stats.offered} frames upscaled at {stats.fps:.1f} fps, "
            f"{stats.dropped} dropped; wrote {result} and {source}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from sdhd_studio.resources import sample_video

    sample = sample_video()
    out = Path(args.output)
    print(f"SD sample: {sample.name} (Big Buck Bunny, CC-BY 3.0 Blender Foundation)",
          file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="sdhd-demo-") as tmp:
        argv = ["upscale", str(sample), "-o", str(out), "--height", "720",
                "--project", str(Path(tmp) / "demo.sdhd")]
        if args.no_wait:
            argv.append("--no-wait")
        if args.workers is not None:
            argv += ["--workers", str(args.workers)]
        argv += ["--device", args.device, "--tile", str(args.tile)]
        if args.json:
            argv.append("--json")
        return cmd_upscale(_parser().parse_args(argv))


def cmd_backends(args: argparse.Namespace) -> int:
    from sdhd_studio.ml import registry

    device = _device(args.device)
    rows = []
    for spec in registry.backends():
        reason = spec.unusable_reason()  # may look for weights on disk: ask once
        rows.append({
            "name": spec.name,
            "kind": spec.kind,
            "version": spec.version,
            "uses": sorted(spec.uses),
            "usable": reason is None,
            "reason": reason,
            "description": spec.description,
        })
    if args.json:
        print(json.dumps({"device": device, "backends": rows}))
        return 0
    print(f"device: {device['label']} ({device['reason']})\n")
    width = shutil.get_terminal_size((100, 24)).columns
    name_w = max(len(row["name"]) for row in rows)
    header = f"{'KIND':12}  {'NAME':{name_w}}  {'HERE':4}  WHAT IT DOES"
    indent = len(header) - len("WHAT IT DOES")
    wrap = textwrap.TextWrapper(max(30, width - indent), break_on_hyphens=False)
    print(header)
    for row in rows:
        lines = wrap.wrap(row["description"]) or [""]
        if not row["usable"]:
            lines += wrap.wrap(f"not usable: {row['reason']}")
        print(f"{registry.NOUNS[row['kind']]:12}  {row['name']:{name_w}}  "
              f"{'ok' if row['usable'] else 'no':4}  {lines[0]}")
        for line in lines[1:]:
            print(" " * indent + line)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from sdhd_studio.ml import models

    rows = []
    for model in models.catalogue():
        where = model.locate()
        rows.append({
            "id": model.id,
            "backends": list(model.backends),
            "source": model.source,
            "present": where.present,
            "where": where.where,
            "bytes": where.size,
            "description": model.description,
        })
    if args.json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        size = f"{row['bytes'] / 1e6:,.0f} MB" if row["present"] else "missing"
        print(f"{row['id']:42} {', '.join(row['backends']):18} {size:>10}  {row['where']}")
    return 0


def cmd_models_download(args: argparse.Namespace) -> int:
    from sdhd_studio.ml import models

    where = models.download(args.model, lambda text: print(text, file=sys.stderr))
    _report(args, {"id": args.model, "where": where.where, "bytes": where.size},
            f"{args.model}: {where.size / 1e6:,.0f} MB in {where.where}")
    return 0


def cmd_relocate(args: argparse.Namespace) -> int:
    from sdhd_studio.render.session import Session

    session = Session.open(args.project, relocate=args.source)
    _report(args, {"source": session.project.source.path},
            f"source is now {session.project.source.path}")
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    session = _open(args.project)
    with _exclusive(session, args):
        count, size = session.gc()
    _report(args, {"removed": count, "bytes": size},
            f"removed {count} unused frames, {size / 1e6:.1f} MB")
    return 0


# -- helpers ---------------------------------------------------------------------------------


def _open(path: str) -> Any:
    from sdhd_studio.render.session import Session

    return Session.open(path)


def _export(
    session: Any, args: argparse.Namespace, out: str | Path, *, keep_cheap: bool = True
) -> dict[str, Any]:
    from sdhd_studio.cli.progress import ProgressBar
    from sdhd_studio.render.export import export_video

    overrides = {
        name: value
        for name, value in (("crf", args.crf), ("preset", args.preset), ("codec", args.codec),
                            ("fps_multiplier", getattr(args, "fps_multiplier", None)),
                            ("target_fps", getattr(args, "target_fps", None)),
                            ("audio_track", args.audio_track))
        if value is not None
    }
    if overrides.get("target_fps") is not None:
        overrides["fps_multiplier"] = 1
    elif overrides.get("fps_multiplier") is not None:
        overrides["target_fps"] = None
    if args.no_audio:
        overrides["audio"] = False
    bar = ProgressBar("export", enabled=not args.json)
    with _farm(session, args) as executor, _cancel_on_interrupt() as cancel:
        try:
            result = export_video(
                session, out, allow_preview=args.allow_preview, workers=args.workers,
                on_event=bar.on_step, on_progress=bar.update, cancel=cancel,
                runtime=_runtime(args), executor=executor, keep_cheap=keep_cheap, **overrides,
            )
        finally:
            bar.close()
    return {
        "path": str(result.path),
        "frames": result.frames,
        "width": result.width,
        "height": result.height,
        "fps": str(result.fps),
        "rendered": result.rendered,
        "previews": result.previews,
        "direct": result.direct,
        "seconds": round(result.seconds, 3),
    }


def _conditioning(args: argparse.Namespace) -> dict[str, str]:
    return {"field_order": args.field_order, "deinterlace": args.deinterlace,
            "ivtc": args.ivtc, "colour_matrix": args.colour_matrix}


def _source_facts(info: Any) -> dict[str, Any]:
    """The analysis and the conditioning chosen from it, for `sdhd info`."""
    cond = info.conditioning
    return {
        "analysis": None if info.analysis is None else vars(info.analysis),
        "conditioning": {
            **{k: v for k, v in vars(cond).items() if k != "telecine"},  # a long encoded map
            "stream_fps": None if cond.stream_fps is None else str(cond.stream_fps),
        },
    }


def _info(session: Any) -> dict[str, Any]:
    project = session.project
    info = project.source.info
    width, height = project.frame_size
    return {
        "project": str(session.folder.path),
        "source": {
            "path": project.source.path,
            "width": info.width,
            "height": info.height,
            "sample_aspect": str(info.sample_aspect),
            "rotation": info.rotation,
            "codec": info.codec,
            "pix_fmt": info.pix_fmt,
            "fps": str(info.fps),
            "fps_float": float(info.fps),
            "vfr": info.vfr,
            "frames": info.frame_count,
            "duration": info.duration,
            "audio": [vars(a) for a in info.audio],
            **_source_facts(info),
        },
        "output": {
            **vars(project.output),
            "target_fps": None if project.output.target_fps is None
            else str(project.output.target_fps),
            "fps": str(project.output.fps(info)),
            "width": width, "height": height,
        },
        "defaults": dict(project.defaults),
        "keyframes": [
            {"frame": kf.frame, "settings": dict(kf.settings),
             "interpolate": sorted(kf.interpolate)}
            for kf in project.keyframes
        ],
        "masks": [vars(m) for m in project.masks],
        "cuts": sorted(project.cuts),
    }


def _exclusive(session: Any, args: argparse.Namespace) -> Any:
    """The project's render lock: wait for another render or export with a message, or with
    --no-wait refuse at once."""
    def say(text: str) -> None:
        print(f"sdhd: {text}", file=sys.stderr)

    return session.exclusive(wait=not args.no_wait, on_wait=say)


def _report(args: argparse.Namespace, result: dict[str, Any], text: str) -> None:
    print(json.dumps(result) if getattr(args, "json", False) else text)


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    from sdhd_studio.core.settings import parse_assignment

    values = dict(parse_assignment(text) for text in (args.set or []))
    for name in ("upscaler", "fast_upscaler", "interpolator", "mode"):
        if getattr(args, name, None):
            values[name] = getattr(args, name)
    return values


def _place_keyframes(session: Any, args: argparse.Namespace) -> None:
    if getattr(args, "keyframe_every", None) is not None:
        session.add_keyframes(args.keyframe_every)


def _output_changes(args: argparse.Namespace) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if args.scale is not None:
        changes["scale"] = args.scale
    elif args.height is not None:
        changes["height"] = args.height
    if getattr(args, "fps_multiplier", None) is not None:
        changes["fps_multiplier"] = args.fps_multiplier
    if getattr(args, "target_fps", None) is not None:
        changes["target_fps"] = args.target_fps
    if args.audio_track is not None:
        changes["audio_track"] = args.audio_track
    return changes


def _output_settings(args: argparse.Namespace) -> Any:
    from sdhd_studio.core.project import OutputSettings

    return OutputSettings().changed(**_output_changes(args))


def _runtime(args: argparse.Namespace) -> Any:
    from sdhd_studio.ml.runtime import Runtime

    return Runtime(device=args.device, tile=args.tile)


@contextlib.contextmanager
def _farm(session: Any, args: argparse.Namespace) -> Iterator[Any]:
    """The executor `--ray` asks for (None: this machine), with the cache `--cache` names."""
    if args.cache:
        session.use_cache(args.cache)
    if not args.ray:
        yield None
        return
    from sdhd_studio.render.ray_executor import RayExecutor

    executor = RayExecutor(args.ray, device=args.device)
    try:
        workers = executor.worker_info()
        print(f"farm: {len(workers)} workers on {len({w.node for w in workers})} machines",
              file=sys.stderr)
        yield executor
    finally:
        executor.shutdown()


def _device(preference: str) -> dict[str, str]:
    from sdhd_studio.ml.devices import pick_device

    device = pick_device(preference)
    return {"name": device.name, "label": device.label, "reason": device.reason}


def _frame(session: Any, text: str) -> int:
    """A frame argument as typed (a number, seconds or a time) on the project's frame grid."""
    from sdhd_studio.core.timecode import parse_frame

    project = session.project
    try:
        return parse_frame(text, project.source.info.fps, project.frame_count)
    except ValueError as exc:
        raise SdhdError(str(exc)) from None


def _parse_frames(session: Any, text: str) -> range:
    """`--frames A-B` or `--frames A`, each a frame number, seconds or a time."""
    first, sep, last = text.partition("-")
    a = _frame(session, first)
    b = _frame(session, last) if sep else a
    if b < a:
        raise SdhdError(f"--frames {text} ends before it starts")
    return range(a, b + 1)


def _format_settings(values: dict[str, Any]) -> str:
    return " ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in values.items())


def _format_list(frames: list[int]) -> str:
    return ", ".join(map(str, frames[:20])) + (f" and {len(frames) - 20} more"
                                               if len(frames) > 20 else "")


def _fps(text: str) -> Fraction:
    """A frame rate as typed: 50, 59.94 (read as 60000/1001) or 30000/1001."""
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a frame rate: {text!r}") from None
    for ntsc in (24, 30, 60, 120):
        if abs(value - Fraction(ntsc * 1000, 1001)) < Fraction(1, 100):
            return Fraction(ntsc * 1000, 1001)
    return value


def _format_ranges(found: list[tuple[int, int]]) -> str:
    parts = [f"{a}-{b}" if a != b else str(a) for a, b in found[:12]]
    return ", ".join(parts) + (f" and {len(found) - 12} more ranges" if len(found) > 12 else "")


@contextlib.contextmanager
def _making_project(args: argparse.Namespace) -> Iterator[Any]:
    """The token for making a project: telecined film's field matching (one pass over the
    file) shows on a progress bar, and Ctrl+C stops it with nothing written."""
    from sdhd_studio.cli.progress import ProgressBar

    bar = ProgressBar("matching fields", enabled=not args.json)
    with _cancel_on_interrupt() as token:
        try:
            yield token.child(bar.update)
        finally:
            bar.close()


class _cancel_on_interrupt:
    """Ctrl+C asks the render to stop after the frames in flight (which are kept). SIGTERM (a
    service manager, `kill`) does the same, so an export it stops leaves no partial file."""

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self) -> Any:
        from sdhd_studio.core.cancel import CancelToken

        self.token = CancelToken()
        self._previous = [signal.signal(sig, lambda *_: self.token.cancel())
                          for sig in self._SIGNALS]
        return self.token

    def __exit__(self, *exc: object) -> None:
        for sig, previous in zip(self._SIGNALS, self._previous, strict=True):
            signal.signal(sig, previous)


# -- argument parsing ------------------------------------------------------------------------

FRAME_HELP = "a frame number, seconds (62.5s) or a time (01:02.52, 0:01:02:13 with frames)"


class _Parser(argparse.ArgumentParser):
    """Lists the backends' names in a flag's help only when help is shown: finding them imports
    the ml layer, which `sdhd --help` and every other command should not wait for."""

    def format_help(self) -> str:
        for action in self._actions:
            kind = _BACKEND_FLAGS.get(action.dest)
            if kind and action.help and "{names}" in action.help:
                from sdhd_studio.ml import registry

                names = ", ".join(spec.name for spec in registry.backends(kind))
                action.help = action.help.replace("{names}", names)
        return super().format_help()

    def error(self, message: str) -> NoReturn:
        """A mistyped command line is one line, like every other error, then exit 2."""
        self.exit(2, f"sdhd: error: {message} (see `{self.prog} --help`)\n")


_BACKEND_FLAGS = {"upscaler": "upscale", "fast_upscaler": "upscale", "inpainter": "inpaint",
                  "interpolator": "interpolate"}


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sdhd", description="SDHD Studio: turn SD video into HD, headless."
    )
    parser.add_argument("--version", action="version", version=f"sdhd {version_text()}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, func: Any, help: str, json_flag: bool = True) -> Any:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(command=func)
        if json_flag:
            p.add_argument("--json", action="store_true", help="print a JSON object last")
        return p

    def wait_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--no-wait", action="store_true", help="if another render or export of "
                       "the project is running, stop at once instead of waiting for it")

    def runtime_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--device", default="auto", choices=("auto", "cuda", "mps", "cpu"),
                       help="where learned backends run (default: CUDA, then MPS, then CPU)")
        p.add_argument("--tile", type=int, default=0, metavar="PX",
                       help="largest tile side for learned backends; lower it if a GPU runs "
                       "out of memory (default 0: each backend's own)")

    def farm_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--ray", metavar="ADDRESS", help="render on a Ray cluster: its address "
                       "(HOST:6379, ray://HOST:10001), or local[:N] to start one here with N "
                       "worker processes; needs sdhd-studio[farm] (see docs/FARM.md)")
        p.add_argument("--cache", metavar="DIR", help="keep rendered frames in DIR instead of "
                       "the project folder, e.g. on storage every farm worker shares; give it "
                       "again to later commands")

    def size_args(p: argparse.ArgumentParser) -> None:
        group = p.add_mutually_exclusive_group()
        group.add_argument("--scale", type=float, help="output size as a multiple of the source")
        group.add_argument("--height", type=int, help="output height in pixels (default 720)")
        p.add_argument("--upscaler", help="upscaler for all frames, or for the keyframes in "
                       "guided mode: {names} (see `sdhd backends`)")
        rate_args(p)
        p.add_argument("--interpolator", help="in-between frames: {names} (dis: default, no "
                       "weights; rife needs Practical-RIFE's flownet.pkl)")
        p.add_argument("--mode", choices=("per-frame", "guided"),
                       help="guided: only keyframes go through --upscaler; the frames between "
                       "take the fast upscaler plus the keyframes' detail, carried by flow")
        p.add_argument("--keyframe-every", type=int, metavar="N",
                       help="keyframes every N frames and where shots start")
        p.add_argument("--fast-upscaler", help="guided mode: upscaler of the frames between "
                       "keyframes: {names} (default lanczos)")
        p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a render setting")
        audio_track_arg(p)

    def audio_track_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--audio-track", type=int, metavar="N", help="which of the source's "
                       "audio tracks goes into the output, 1 first (default 1; see `sdhd info`)")

    def source_args(p: argparse.ArgumentParser, default: str | None = "auto") -> None:
        p.add_argument("--field-order", default=default, choices=FIELD_ORDERS,
                       help="interlaced fields: top or bottom first, or progressive (default: "
                       "as the pictures show)")
        p.add_argument("--deinterlace", default=default, choices=DEINTERLACE_MODES,
                       help="double: one frame per field (25i -> 50p, the default for "
                       "interlaced video); mc: double, the missing lines taken along the "
                       "motion where it is found (slower, sharper); single: one per picture; "
                       "off: fields woven")
        p.add_argument("--ivtc", default=default, choices=IVTC_MODES,
                       help="inverse telecine: telecined film (29.97i with 3:2 pulldown) back "
                       "to its 23.976 film frames (default: when the analysis finds it)")
        p.add_argument("--colour-matrix", default=default, choices=COLOUR_MATRICES,
                       help="how the source's colours are decoded (default: its tags, else "
                       "BT.601 for SD and BT.709 for HD)")

    def rate_args(p: argparse.ArgumentParser) -> None:
        group = p.add_mutually_exclusive_group()
        group.add_argument("--fps-multiplier", type=int, choices=(1, 2, 3, 4),
                           help="output frame rate as a multiple of the source's; the new "
                           "frames are interpolated")
        group.add_argument("--target-fps", type=_fps, metavar="FPS",
                           help="output frame rate, e.g. 50 or 59.94 (interpolated)")

    def export_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--crf", type=int, help="quality, 0 (lossless) to 51 (worst); default 18")
        p.add_argument("--preset", help="encoder speed preset (default medium)")
        p.add_argument("--codec", help="h264, h265, vp9 or av1, or a hardware encoder where one "
                       "works (h264-nvenc, h265-qsv, ...: see the export dialog)")
        p.add_argument("--allow-preview", action="store_true",
                       help="fill frames not rendered yet with a quick upscale")
        p.add_argument("--no-audio", action="store_true", help="leave the audio out")
        p.add_argument("--workers", type=int, help="render threads (default: CPU cores, max 4)")
        runtime_args(p)
        wait_arg(p)

    p = command("new", cmd_new, "start a project from a video")
    p.add_argument("source")
    p.add_argument("-o", "--output", help="project folder (default ./NAME.sdhd)")
    size_args(p)
    source_args(p)

    p = command("info", cmd_info, "show a project's source, output and keyframes")
    p.add_argument("project")

    p = command("source", cmd_source, "change how the source's frames are made (fields, "
                "telecine, colour); keyframes, masks and cuts keep their times")
    p.add_argument("project")
    source_args(p, default=None)

    p = command("status", cmd_status, "count frames per state and list what needs rendering")
    p.add_argument("project")
    p.add_argument("--cache", metavar="DIR", help="the frames are kept in DIR (see render)")

    keyframe = sub.add_parser("keyframe", help="set or remove keyframes")
    ksub = keyframe.add_subparsers(required=True, metavar="ACTION")
    p = ksub.add_parser("set", help="set a keyframe's settings")
    p.set_defaults(command=cmd_keyframe_set)
    p.add_argument("project")
    p.add_argument("frame", help=FRAME_HELP)
    p.add_argument("--upscaler", help="upscaler from this frame on: {names}")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a render setting")
    p.add_argument("--interpolate", action="append", metavar="KEY",
                   help="ramp this numeric setting linearly to the next keyframe")
    p.add_argument("--json", action="store_true")
    p = ksub.add_parser("rm", help="remove a keyframe")
    p.set_defaults(command=cmd_keyframe_rm)
    p.add_argument("project")
    p.add_argument("frame", help=FRAME_HELP)
    p.add_argument("--json", action="store_true")
    p = ksub.add_parser("auto", help="add keyframes every N frames and where shots start")
    p.set_defaults(command=cmd_keyframe_auto)
    p.add_argument("project")
    p.add_argument("--every", type=int, required=True, metavar="N")
    p.add_argument("--no-cuts", action="store_true", help="do not look for shot changes")
    p.add_argument("--json", action="store_true")

    cut = sub.add_parser("cut", help="mark where shots start: nothing is interpolated or "
                         "carried across a cut")
    csub = cut.add_subparsers(required=True, metavar="ACTION")
    for action, text in (("set", "a new shot starts at FRAME"),
                         ("rm", "no cut at FRAME after all")):
        p = csub.add_parser(action, help=text)
        p.set_defaults(command=cmd_cut, action=action)
        p.add_argument("project")
        p.add_argument("frame", help=FRAME_HELP)
        p.add_argument("--json", action="store_true")
    p = csub.add_parser("detect", help="find the shot changes in the source and mark them")
    p.set_defaults(command=cmd_cut, action="detect")
    p.add_argument("project")
    p.add_argument("--json", action="store_true")

    mask = sub.add_parser("mask", help="set or remove inpainting masks")
    msub = mask.add_subparsers(required=True, metavar="ACTION")
    p = msub.add_parser("set", help="paint a mask (white = fill) on a frame")
    p.set_defaults(command=cmd_mask_set)
    p.add_argument("project")
    p.add_argument("frame", help=FRAME_HELP)
    p.add_argument("mask", help="PNG the size of the source frames")
    hold = p.add_mutually_exclusive_group()
    hold.add_argument("--hold", type=int, metavar="N", help="apply to N frames from FRAME")
    hold.add_argument("--until", metavar="FRAME", help="apply up to FRAME")
    p.add_argument("--inpainter", help="inpainter for this mask: {names} (default: the "
                   "frame's setting)")
    p.add_argument("--track", action="store_true",
                   help="carry the mask along with what moves (optical flow) instead of "
                   "holding it still; stops early, with a warning, where tracking is lost")
    p.add_argument("--start", metavar="FRAME",
                   help="with --track: also carry it back to FRAME")
    p.add_argument("--json", action="store_true")
    p = msub.add_parser("rm", help="remove the mask painted on a frame")
    p.set_defaults(command=cmd_mask_rm)
    p.add_argument("project")
    p.add_argument("frame", help=FRAME_HELP)
    p.add_argument("--json", action="store_true")

    p = command("render", cmd_render, "render the frames whose inputs changed")
    p.add_argument("project")
    p.add_argument("--frames", metavar="A-B", help="only frames A to B (inclusive); each a "
                   "frame number, seconds or a time")
    p.add_argument("--workers", type=int, help="render threads (default: CPU cores, max 4)")
    runtime_args(p)
    wait_arg(p)
    farm_args(p)

    p = command("export", cmd_export,
                "write the HD video: .mp4, .mov, .mkv or .webm (renders what is missing first)")
    p.add_argument("project")
    p.add_argument("-o", "--output", required=True)
    rate_args(p)
    audio_track_arg(p)
    export_args(p)
    farm_args(p)

    p = command("upscale", cmd_upscale, "one step: video in, HD video out (resumable)")
    p.add_argument("source")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--project", help="where to keep the work (default OUT.sdhd)")
    p.add_argument("--keep-project", action="store_true", help="keep the project afterwards")
    size_args(p)
    source_args(p)
    export_args(p)
    farm_args(p)

    p = command("live", cmd_live, "upscale a capture device, stream or file x2 in real time with "
                "the realtime net, dropping frames when behind; records source and result")
    p.add_argument("source", help="a device (/dev/video0 on Linux, device:NAME elsewhere), a "
                   "stream URL, or a file played at its own speed")
    p.add_argument("-o", "--output", required=True, help="the result's file; the source is "
                   "recorded beside it as NAME-source.mkv, which `sdhd new` opens")
    p.add_argument("--seconds", type=float, help="stop after this long (default: when the "
                   "source ends, or Ctrl+C)")
    runtime_args(p)

    p = command("demo", cmd_demo, "upscale the bundled SD sample to HD (no GPU, no downloads)")
    p.add_argument("-o", "--output", default="sdhd-demo.mp4")
    p.add_argument("--workers", type=int)
    runtime_args(p)
    wait_arg(p)

    p = command("backends", cmd_backends, "list backends, whether each can run here, and the "
                "device learned backends would use")
    p.add_argument("--device", default="auto", choices=("auto", "cuda", "mps", "cpu"))

    p = command("models", cmd_models, "list the models backends know: present or not, where, "
                "how big")
    msub = p.add_subparsers(metavar="ACTION")
    d = msub.add_parser("download", help="fetch a hub model into the Hugging Face cache",
                        description="fetch a hub model into the Hugging Face cache")
    d.set_defaults(command=cmd_models_download)
    d.add_argument("model", help="hub id, e.g. stabilityai/stable-diffusion-x4-upscaler")
    d.add_argument("--json", action="store_true")

    p = command("relocate", cmd_relocate, "point a project at its moved source video")
    p.add_argument("project")
    p.add_argument("source")

    p = command("gc", cmd_gc, "delete cached frames the project no longer uses")
    p.add_argument("project")
    wait_arg(p)
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
