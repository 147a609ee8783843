"""The encoder catalogue: option mapping, probing real encodes, and the writer using it."""

import os
import re
import subprocess
from fractions import Fraction

import av
import numpy as np
import pytest

from sdhd_studio.core.errors import ExportError
from sdhd_studio.core.project import PRESETS
from sdhd_studio.media.encoders import (
    ENCODERS,
    Encoder,
    available_encoders,
    encoder_for,
    find_encoder,
    output_options,
    problem,
    usable,
    videotoolbox_quality,
)
from sdhd_studio.media.ffmpeg import ffmpeg_exe, video_encoders
from sdhd_studio.media.probe import probe
from sdhd_studio.media.reader import FrameReader
from sdhd_studio.media.writer import VideoWriter


def by_name(name):
    encoder = find_encoder(name)
    assert encoder is not None
    return encoder


def test_catalogue_names_labels_and_kinds():
    names = [e.name for e in ENCODERS]
    assert len(set(names)) == len(names) == 14
    assert names[:2] == ["h264", "h265"]
    assert [e.name for e in ENCODERS if not e.hardware] == ["h264", "h265", "vp9", "av1"]
    assert [e.codec for e in ENCODERS[:4]] == ["h264", "hevc", "vp9", "av1"]
    assert by_name("h265-qsv").codec == "hevc" and by_name("av1").label == "AV1 (SVT-AV1, software)"
    nvenc = by_name("h265-nvenc")
    assert (nvenc.label, nvenc.ffmpeg_name, nvenc.hardware, nvenc.hevc) == (
        "H.265 (NVIDIA NVENC)", "hevc_nvenc", True, True,
    )
    assert by_name("h264").label == "H.264 (x264, software)"
    assert find_encoder("libx265") is by_name("h265")  # ffmpeg's own name still works
    assert find_encoder("hevc_qsv") is by_name("h265-qsv")
    assert find_encoder("mpeg4") is None
    assert [e.name for e in ENCODERS if not e.has_presets] == [
        "h264-videotoolbox", "h265-videotoolbox", "h264-vaapi", "h265-vaapi",
    ]


# What every encoder is given: RGB turned into BT.709 limited-range Y'CbCr, tagged as such.
_BT709 = {
    "vf": "scale=out_color_matrix=bt709:out_range=tv,setparams=color_primaries=bt709"
          ":color_trc=bt709:colorspace=bt709:range=tv", "color_primaries": "bt709",
    "color_trc": "bt709", "colorspace": "bt709", "color_range": "tv",
}


@pytest.mark.parametrize("encoder", ENCODERS, ids=lambda e: e.name)
def test_every_encoder_gets_bt709_limited_range_and_its_tags(encoder):
    options = output_options(encoder, 18, "medium")
    assert options["vf"].startswith(_BT709["vf"])
    assert {k: options[k] for k in _BT709 if k != "vf"} == {k: v for k, v in _BT709.items()
                                                             if k != "vf"}


def test_software_options_pass_crf_and_preset():
    assert output_options(by_name("h264"), 18, "slow") == {
        "c:v": "libx264", "pix_fmt": "yuv420p", "crf": "18", "preset": "slow", **_BT709,
    }
    x265 = output_options(by_name("h265"), 0, "ultrafast")
    assert (x265["c:v"], x265["crf"], x265["x265-params"]) == ("libx265", "0", "log-level=error")


def test_vp9_and_av1_spread_crf_over_0_63_and_presets_over_their_speeds():
    vp9 = output_options(by_name("vp9"), 18, "medium")
    assert {k: vp9[k] for k in ("c:v", "crf", "b:v", "deadline", "cpu-used", "row-mt")} == {
        "c:v": "libvpx-vp9", "crf": "22", "b:v": "0", "deadline": "good", "cpu-used": "3",
        "row-mt": "1",
    }
    av1 = output_options(by_name("av1"), 51, "medium")
    assert (av1["c:v"], av1["crf"], av1["preset"]) == ("libsvtav1", "63", "8")
    for name in ("vp9", "av1"):
        key = "cpu-used" if name == "vp9" else "preset"
        speeds = [int(output_options(by_name(name), 18, p)[key]) for p in PRESETS]
        assert speeds == sorted(speeds, reverse=True) and speeds[0] > speeds[-1]  # slower


def test_nvenc_maps_crf_to_cq_and_presets_to_p1_p7():
    options = output_options(by_name("h264-nvenc"), 20, "medium")
    assert options == {
        "c:v": "h264_nvenc", "pix_fmt": "yuv420p", "rc": "vbr", "cq": "20", "b:v": "0",
        "preset": "p4", **_BT709,
    }
    steps = [int(output_options(by_name("h265-nvenc"), 18, p)["preset"][1]) for p in PRESETS]
    assert steps[0] == 1 and steps[-1] == 7 and steps == sorted(steps)
    assert output_options(by_name("h264-nvenc"), 0, "medium")["cq"] == "1"  # 0 is "auto"


def test_qsv_videotoolbox_amf_and_vaapi_options():
    qsv = output_options(by_name("h264-qsv"), 22, "ultrafast")
    assert (qsv["pix_fmt"], qsv["global_quality"], qsv["preset"]) == ("nv12", "22", "veryfast")
    assert output_options(by_name("h265-qsv"), 22, "slower")["preset"] == "slower"

    assert output_options(by_name("h264-videotoolbox"), 18, "medium")["q:v"] == "65"
    qualities = [videotoolbox_quality(crf) for crf in range(52)]
    assert qualities[0] == 100 and qualities[-1] == 1 and qualities == sorted(qualities)[::-1]

    amf = output_options(by_name("h264-amf"), 19, "veryslow")
    assert {k: amf[k] for k in ("rc", "qp_i", "qp_p", "qp_b", "quality")} == {
        "rc": "cqp", "qp_i": "19", "qp_p": "19", "qp_b": "19", "quality": "quality",
    }
    hevc_amf = output_options(by_name("h265-amf"), 19, "ultrafast")
    assert "qp_b" not in hevc_amf and hevc_amf["quality"] == "speed"

    vaapi = output_options(by_name("h265-vaapi"), 24, "slow")
    assert vaapi == {
        "c:v": "hevc_vaapi", "rc_mode": "CQP", "qp": "24", **_BT709,
        "vf": f"{_BT709['vf']},format=nv12,hwupload",  # converted before the upload
    }


# Options every encoder takes from ffmpeg itself rather than from its own option list.
_GENERIC = {"c:v", "pix_fmt", "b:v", "q:v", "global_quality", "vf", "crf", *_BT709}


@pytest.mark.parametrize("encoder", ENCODERS, ids=lambda e: e.name)
def test_mapped_options_exist_in_the_encoders_own_help(encoder):
    """Without the hardware, ffmpeg's help is the ground truth for option names and values."""
    if encoder.ffmpeg_name not in video_encoders():
        pytest.skip(f"this ffmpeg has no {encoder.ffmpeg_name}")
    shown = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-h", f"encoder={encoder.ffmpeg_name}"],
        capture_output=True, text=True, check=True,
    ).stdout
    declared = set(re.findall(r"^\s+-(\S+)\s", shown, re.M))
    constants = set(re.findall(r"^\s{4,}(\w+)\s+-?\d+\s+E", shown, re.M))
    for preset in PRESETS:
        options = output_options(encoder, 18, preset)
        for key, value in options.items():
            if key in _GENERIC:
                continue
            assert key in declared, f"{encoder.ffmpeg_name} has no option -{key}"
            if not value.isdigit() and key not in ("x265-params", "preset"):
                assert value in constants, f"{encoder.ffmpeg_name} -{key} has no value {value}"
        if encoder.hardware and encoder.has_presets and "preset" in options:
            assert options["preset"] in constants


def test_a_listed_encoder_that_fails_a_real_encode_is_not_offered():
    # libx264 is listed, but given NVENC's options it cannot open: the probe must see that.
    broken = Encoder("h264-broken", "H.264 (broken)", "libx264", "nvenc")
    why = problem(broken)
    assert why is not None and "invalid preset 'p4'" in why
    assert usable((by_name("h264"), broken)) == [by_name("h264")]


def test_an_encoder_this_ffmpeg_lacks_is_not_offered():
    missing = Encoder("h264-none", "H.264 (none)", "h264_no_such_encoder", "nvenc")
    assert problem(missing) == "this ffmpeg has no h264_no_such_encoder encoder"


@pytest.mark.skipif(
    "h264_nvenc" not in video_encoders() or os.path.exists("/dev/nvidiactl"),
    reason="needs an ffmpeg with NVENC compiled in, on a machine without an NVIDIA driver",
)
def test_compiled_in_nvenc_without_a_gpu_is_not_offered():
    assert problem(by_name("h264-nvenc")) is not None
    names = [e.name for e in available_encoders()]
    assert "h264-nvenc" not in names and "h265-nvenc" not in names


def test_software_encoders_are_available_first():
    names = [e.name for e in available_encoders()]
    assert names[:2] == ["h264", "h265"]
    assert available_encoders() == available_encoders()  # probed once, same answer


def _write(path, codec, frames=8):
    with VideoWriter(str(path), 64, 48, Fraction(25), codec=codec, preset="ultrafast") as w:
        for value in range(frames):
            w.write(np.full((48, 64, 3), value * 30, np.uint8))


@pytest.mark.parametrize(("codec", "expected"), [("h264", "h264"), ("h265", "hevc")])
def test_writer_makes_a_playable_file_by_catalogue_name(tmp_path, codec, expected):
    out = tmp_path / "out.mp4"
    _write(out, codec)
    info = probe(str(out))
    assert (info.codec, info.frame_count, info.width, info.height) == (expected, 8, 64, 48)
    with FrameReader(str(out)) as reader:
        assert abs(reader.read(5).mean() - 150) < 3  # the frame decodes to what was written
    if codec == "h265":
        with av.open(str(out)) as container:
            assert container.streams.video[0].codec_context.codec_tag == "hvc1"


def test_writer_refuses_an_unknown_encoder_and_lists_the_usable_ones(tmp_path):
    with pytest.raises(ExportError) as caught:
        _write(tmp_path / "out.mp4", "mpeg9")
    assert str(caught.value).startswith("there is no video encoder named 'mpeg9'; use one of: ")
    assert "h264, h265" in str(caught.value)
    assert os.listdir(tmp_path) == []


def test_writer_refuses_a_hardware_encoder_that_does_not_work_here(tmp_path):
    broken = [e for e in ENCODERS if e.hardware and problem(e) is not None]
    if not broken:
        pytest.skip("every hardware encoder works on this machine")
    encoder = broken[0]
    with pytest.raises(ExportError, match=re.escape(f"{encoder.label} cannot be used here")):
        encoder_for(encoder.name)
    with pytest.raises(ExportError, match="use one of: h264, h265"):
        _write(tmp_path / "out.mp4", encoder.name)
    assert os.listdir(tmp_path) == []
