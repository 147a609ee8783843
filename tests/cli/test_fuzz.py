"""Fuzzing what enters from outside: project.json as any program (or person) may have left it,
and `--set` values as typed. Every case ends in a valid project or one line of error: never a
traceback, never a hang. A fixed seed keeps CI repeatable."""

import contextlib
import json
import signal

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from sdhd_studio.cli.main import main
from sdhd_studio.core.settings import SETTINGS

TIME_LIMIT_S = 20  # per command; a plan of a tiny clip takes milliseconds

ODD = [10**12, -1, 2**64, 0, 1, 0.5, "../../etc/passwd", "1/0", "nan", "0" * 64, "x" * 5000,
       "30000/1001", "-25", "", [], {}, None, True]
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    | st.sampled_from(ODD),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def base(tiny_clip, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "p.sdhd"
    assert main(["new", tiny_clip, "-o", str(path), "--height", "90"]) == 0
    assert main(["keyframe", "set", str(path), "4", "--set", "sharpen=0.5",
                 "--interpolate", "sharpen"]) == 0
    assert main(["keyframe", "set", str(path), "8", "--set", "sharpen=1"]) == 0
    assert main(["cut", "set", str(path), "12"]) == 0
    assert main(["mask", "set", str(path), "2", _mask(path), "--hold", "3"]) == 0
    (path / "project.json.bak").unlink()  # a broken document must not be saved by its backup
    return path, json.loads((path / "project.json").read_text())


def _mask(project):
    from PIL import Image

    mask = project.parent / "mask.png"
    Image.new("L", (160, 90), 255).save(mask)
    return str(mask)


def _places(node, path=()):
    """Every position in the document: (path to it, its value)."""
    yield path, node
    children = node.items() if isinstance(node, dict) else (
        enumerate(node) if isinstance(node, list) else ())
    for key, child in children:
        yield from _places(child, (*path, key))


def _mutated(doc, place, action, value):
    doc = json.loads(json.dumps(doc))
    *parents, last = place
    parent = doc
    for key in parents:
        parent = parent[key]
    if action == "replace":
        parent[last] = value
    elif action == "delete":
        del parent[last]
    elif isinstance(parent[last], dict):
        parent[last]["surprise"] = value
    return doc


@contextlib.contextmanager
def _time_limit(seconds):
    def hung(*_):
        raise TimeoutError(f"hung for {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _run(capsys, *argv):
    capsys.readouterr()
    with _time_limit(TIME_LIMIT_S):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exit:  # a command line argparse refuses
            code = exit.code
    _, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code in (0, 1, 2), (argv, code, err)
    if code:
        assert len(lines) == 1 and lines[0].startswith("sdhd: error: "), err
    return code


FUZZ = settings(max_examples=250, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@seed(16)
@FUZZ
@given(data=st.data(), action=st.sampled_from(["replace", "delete", "add"]), value=values)
def test_any_project_json_opens_or_is_refused_in_one_line(base, capsys, data, action, value):
    path, doc = base
    places = [p for p, _ in _places(doc) if p]
    place = data.draw(st.sampled_from(places))
    text = json.dumps(_mutated(doc, place, action, value))
    if data.draw(st.integers(0, 9), label="truncate?") == 0:  # a save cut short
        text = text[: data.draw(st.integers(0, len(text) - 1))]
    (path / "project.json").write_text(text)
    if _run(capsys, "status", path, "--json") == 0:
        assert _run(capsys, "info", path) == 0


@seed(16)
@FUZZ
@given(name=st.sampled_from(sorted(SETTINGS)) | st.text(max_size=8),
       value=st.text(max_size=30) | st.sampled_from(["nan", "inf", "-inf", "1e400", "1e-400",
                                                     "/dev/zero", "0x10", "1_000", " 3 "]))
def test_any_set_value_is_stored_valid_or_refused_in_one_line(base, capsys, name, value):
    path, doc = base
    (path / "project.json").write_text(json.dumps(doc))
    if _run(capsys, "keyframe", "set", path, 3, "--set", f"{name}={value}") == 0:
        assert _run(capsys, "status", path) == 0
