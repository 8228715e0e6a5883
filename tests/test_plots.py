"""Coefficient and event-study plots: the event-term parser, and valid images of the right size.

Images are checked for what a reader's software needs: a PNG signature and the pixel size in
its header, an SVG that parses as XML with the requested size in points, and a PDF header.
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from migtrade.errors import UsageError
from migtrade.report.events import event_terms, parse_event_term
from migtrade.report.load import load_results
from migtrade.report.plots import PlotStyle, coef_plot, event_plot, plot_format
from migtrade.results.result import EstimationResult

FIXTURES = Path(__file__).parent / "fixtures" / "results"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, the first chunk of every PNG."""
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def gravity() -> list[EstimationResult]:
    return load_results([FIXTURES / f"{n}.json" for n in ("ppml_2way", "ppml_3way", "ols_2way")])


@pytest.fixture(scope="module")
def event() -> EstimationResult:
    return load_results([FIXTURES / "event_ppml.json"])[0]


def _with_terms(base: EstimationResult, terms: list[str], params: list[float]) -> EstimationResult:
    """A copy of a result with other coefficient names (for names the engine fixtures lack)."""
    k = len(terms)
    return replace(base, terms=tuple(terms), params=np.array(params), cov=np.eye(k) * 0.01)


# Event terms -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("term", "expected"), [
    ("rta_lead3", ("rta", -3.0, "Periods relative to the event")),
    ("rta_lag0", ("rta", 0.0, "Periods relative to the event")),
    ("fta_deep_lag12", ("fta_deep", 12.0, "Periods relative to the event")),
    ("rel::-2", ("rel", -2.0, "rel")),
    ("rel::3", ("rel", 3.0, "rel")),
    ("year::1994:rta", ("rta × year", 1994.0, "year")),
    ("log_dist", None),
    ("rta_leader", None),
    ("i::x", None),
])
def test_parse_event_term(term: str, expected: tuple[str, float, str] | None) -> None:
    assert parse_event_term(term) == expected


def test_event_terms_default_pattern_and_periods() -> None:
    found, axis = event_terms(["log_dist", "rta_lead2", "rta_lag0", "rta_lag1"])
    assert [(e.term, e.period) for e in found] == [("rta_lead2", -2), ("rta_lag0", 0), ("rta_lag1", 1)]
    assert axis == "Periods relative to the event"
    found, axis = event_terms(["a", "pre_x", "post_x"], pattern="_x$", periods=[-1.0, 1.0])
    assert [(e.term, e.period) for e in found] == [("pre_x", -1.0), ("post_x", 1.0)] and axis == "Period"
    found, _ = event_terms(["rta_f-2", "rta_f3", "other"], pattern=r"^rta_f(?P<period>-?\d+)$")
    assert [(e.series, e.period) for e in found] == [("rta_f", -2.0), ("rta_f", 3.0)]


@pytest.mark.parametrize(("terms", "kwargs", "message"), [
    (["log_dist"], {}, "no coefficient named like"),
    (["x"], {"pattern": "nomatch"}, "matching --pattern"),
    (["pre_x", "post_x"], {"pattern": "_x$"}, "cannot read a period"),
    (["pre_x", "post_x"], {"pattern": "_x$", "periods": [1.0]}, "2 coefficients"),
    (["a_lag1", "a_lag1x"], {"pattern": "a_lag", "periods": [1.0, 1.0]}, "are at period 1"),
    (["x"], {"pattern": "("}, "not a regular expression"),
])
def test_event_terms_errors(terms: list[str], kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError) as err:
        event_terms(terms, **kwargs)  # type: ignore[arg-type]
    assert message in err.value.one_line()


# Images ------------------------------------------------------------------------------------------


def test_coef_png_has_the_requested_size(gravity: list[EstimationResult]) -> None:
    data = coef_plot(gravity, "png")
    assert png_size(data) == (7 * 150, int(4.5 * 150))
    small = coef_plot(gravity[:1], "png", keep=["rta", "dist"], style=PlotStyle(width=4, height=3, dpi=100))
    assert png_size(small) == (400, 300)


def test_png_reads_back_with_matplotlib(gravity: list[EstimationResult], tmp_path: Path) -> None:
    from matplotlib import image

    path = tmp_path / "c.png"
    path.write_bytes(coef_plot(gravity, "png", style=PlotStyle(dpi=100)))
    pixels = image.imread(path)
    assert pixels.shape[:2] == (450, 700)
    assert pixels.std() > 0.01  # not a blank canvas


def test_svg_is_xml_of_the_requested_size(event: EstimationResult) -> None:
    data = event_plot([event], "svg", style=PlotStyle(width=6, height=4, title="RTA <entry> & trade"))
    root = ET.fromstring(data)
    assert root.tag.endswith("svg")
    assert root.get("width", "").startswith("432") and root.get("height", "").startswith("288")
    assert b"RTA &lt;entry&gt; &amp; trade" in data


def test_pdf_header(gravity: list[EstimationResult], event: EstimationResult) -> None:
    assert coef_plot(gravity, "pdf").startswith(b"%PDF")
    assert event_plot([event], "pdf").startswith(b"%PDF")


def test_plots_are_reproducible(gravity: list[EstimationResult], event: EstimationResult) -> None:
    for fmt in ("png", "svg", "pdf"):
        assert coef_plot(gravity, fmt) == coef_plot(gravity, fmt)
    assert event_plot([event], "svg") == event_plot([event], "svg")


def test_coef_plot_labels_and_source_note(gravity: list[EstimationResult]) -> None:
    # matplotlib draws text as paths by default; with svg.fonttype 'none' it writes the text.
    from matplotlib import rc_context

    with rc_context({"svg.fonttype": "none"}):
        svg = coef_plot(gravity, "svg").decode()
    for text in ("log_migrant_stock", "(3) OLS: log(trade)", "95% confidence interval", "sha256 50d5199df341"):
        assert text in svg


def test_event_plot_marks_the_reference_period(event: EstimationResult) -> None:
    from matplotlib import rc_context

    with rc_context({"svg.fonttype": "none"}):
        svg = event_plot([event], "svg").decode()
    assert "reference period (\u22121)" in svg and "Periods relative to the event" in svg
    with rc_context({"svg.fonttype": "none"}):
        none = event_plot([event], "svg", ref=None).decode()
    assert "reference period" not in none


def test_event_plot_several_models_and_series(event: EstimationResult) -> None:
    other = _with_terms(event, ["rel::-3", "rel::-2", "rel::0", "rel::1"], [0.1, 0.0, 0.4, 0.5])
    data = event_plot([event, other], "png")
    assert png_size(data) == (1050, 675)


@pytest.mark.parametrize(("ref", "message"), [(0.0, "is estimated"), (-10.0, "far from the estimated")])
def test_event_reference_must_be_left_out_and_near(event: EstimationResult, ref: float, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        event_plot([event], "png", ref=ref)


def test_errors(gravity: list[EstimationResult]) -> None:
    with pytest.raises(UsageError, match="no coefficient to plot"):
        coef_plot(gravity, "png", keep=["nosuch"])
    with pytest.raises(UsageError, match="image format"):
        plot_format(Path("x.gif"))
    assert plot_format(Path("X.PDF")) == "pdf"
    with pytest.raises(UsageError, match="dpi"):
        PlotStyle(dpi=5)
    with pytest.raises(UsageError, match="width"):
        PlotStyle(width=0.1)
    with pytest.raises(UsageError, match="no results"):
        coef_plot([], "png")
