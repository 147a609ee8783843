"""`sdhd live`: a file played as a live source, recorded, and the source recording opened as a
project."""

import json

import av

from sdhd_studio.cli.main import main


def test_live_records_a_project_ready_source(tiny_clip, tmp_path, capsys):
    out = tmp_path / "live.mp4"
    assert main(["live", tiny_clip, "-o", str(out), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert stats["offered"] == 24 and stats["processed"] > 0
    assert stats["processed"] + stats["dropped"] == stats["offered"]
    assert stats["fps"] > 0
    with av.open(str(out)) as result:
        stream = result.streams.video[0]
        assert (stream.width, stream.height) == (320, 180)
        assert sum(1 for _ in result.decode(stream)) == 24

    assert main(["new", stats["source_recording"], "-o", str(tmp_path / "live.sdhd"),
                 "--json"]) == 0
    source = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["source"]
    assert (source["width"], source["height"], source["frames"]) == (160, 90, 24)


def test_live_without_a_source_says_so(tmp_path, capsys):
    assert main(["live", str(tmp_path / "none.mp4"), "-o", str(tmp_path / "out.mp4")]) == 1
    assert "no such file, device or stream URL" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
