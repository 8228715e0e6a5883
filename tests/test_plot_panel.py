"""``migtrade plot panel``: a dyad's series from a panel built from the shared data."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

EXE = Path(sys.executable).with_name("migtrade")
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def panel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not SHARED.exists():
        pytest.skip("../shared/data is not available beside this checkout")
    out = tmp_path_factory.mktemp("panel") / "panel.parquet"
    proc = subprocess.run(
        [str(EXE), "panel", "build", "--out", str(out),
         "--trade", str(SHARED / "yotov2016_agtpa/agtpa_applications.csv.gz"),
         "--stocks", str(SHARED / "undesa_migrant_stock/undesa_ims2020_bilateral_stock_long.csv.gz"),
         "--years", "1990:2005:5", "--countries", "MEX,USA,PHL,CAN", "--format", "json"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out


def test_mexico_us_series_is_a_png_of_the_requested_size(panel: Path, tmp_path: Path) -> None:
    out = tmp_path / "mexusa.png"
    proc = subprocess.run([str(EXE), "plot", "panel", str(panel), "--pair", "MEX-USA", "--vars",
                           "trade,migrant_stock", "--width", "6", "--height", "4", "--dpi", "100", "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert png_size(out) == (600, 400)


@pytest.mark.parametrize(("args", "message"), [
    (["--pair", "MEX-XXX"], "no rows for MEX -> XXX"),
    (["--pair", "MEXUSA"], "cannot read the pair"),
    (["--pair", "MEX-USA", "--vars", "nosuch"], "no column 'nosuch'"),
])
def test_bad_input_is_one_line(panel: Path, tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "x.png"
    proc = subprocess.run([str(EXE), "plot", "panel", str(panel), *args, "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()
