import json

import pytest

from sdhd_studio import __version__
from sdhd_studio.core import build


@pytest.fixture
def lite_build(monkeypatch, tmp_path):
    """This process as the frozen lite app sees itself: a build.json naming the flavour."""
    info = tmp_path / "build.json"
    info.write_text(json.dumps({"flavour": "lite"}))
    monkeypatch.setattr(build, "BUILD_INFO", info)
    build.flavour.cache_clear()
    yield
    build.flavour.cache_clear()


def test_a_pip_install_is_no_build_and_says_how_to_install_what_is_missing():
    assert build.flavour() is None
    assert build.version_text() == __version__
    assert build.missing("numpy", "json") is None
    assert build.missing("numpy", "sdhd_no_such_package") == (
        "needs sdhd_no_such_package, which is not installed (pip install sdhd_no_such_package)"
    )


def test_a_frozen_build_names_its_flavour_and_what_it_leaves_out(lite_build):
    assert build.flavour() == "lite"
    assert build.version_text() == f"{__version__} (lite build)"
    assert build.missing("sdhd_no_such_package") == (
        "needs sdhd_no_such_package, which the lite build of SDHD Studio leaves out "
        "(the full build or a pip install has it)"
    )
