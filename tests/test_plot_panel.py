"""``migtrade plot panel``: a dyad's series from a panel built from the shared data."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from conftest import SHARED, cli


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def panel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not SHARED.exists():
        pytest.skip("../shared/data is not available beside this checkout")
    out = tmp_path_factory.mktemp("panel") / "panel.parquet"
    code, _, err = cli(
        "panel", "build", "--out", out,
        "--trade", SHARED / "yotov2016_agtpa/agtpa_applications.csv.gz",
        "--stocks", SHARED / "undesa_migrant_stock/undesa_ims2020_bilateral_stock_long.csv.gz",
        "--years", "1990:2005:5", "--countries", "MEX,USA,PHL,CAN", "--format", "json")
    assert code == 0, err
    return out


def test_mexico_us_series_is_a_png_of_the_requested_size(panel: Path, tmp_path: Path) -> None:
    out = tmp_path / "mexusa.png"
    code, _, err = cli("plot", "panel", panel, "--pair", "MEX-USA", "--vars", "trade,migrant_stock",
                       "--width", "6", "--height", "4", "--dpi", "100", "-o", out)
    assert code == 0, err
    assert png_size(out) == (600, 400)


@pytest.mark.parametrize(("args", "message"), [
    (["--pair", "MEX-XXX"], "no rows for MEX -> XXX"),
    (["--pair", "MEXUSA"], "cannot read the pair"),
    (["--pair", "MEX-USA", "--vars", "nosuch"], "no column 'nosuch'"),
])
def test_bad_input_is_one_line(panel: Path, tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "x.png"
    code, _, err = cli("plot", "panel", panel, *args, "-o", out)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
