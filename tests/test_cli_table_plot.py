"""``migtrade table`` and ``migtrade plot`` from the command line: outputs, options and bad input.

Bad input must give one line on stderr, exit code 2, and leave the output file as it was, with
no temporary file behind. Most tests run in process through ``main`` (the entry point and its
error handler); one runs the installed script as scripts and CI do.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "results"
R1, R2, R3 = (str(FIXTURES / f"{n}.json") for n in ("ppml_2way", "ppml_3way", "ols_2way"))
EVENT = str(FIXTURES / "event_ppml.json")
LIST = str(FIXTURES / "list_2models.json")


Runner = Callable[..., tuple[int, str, str]]




def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


# table -------------------------------------------------------------------------------------------


def test_rich_by_default(cli: Runner) -> None:
    code, out, err = cli("table", R1, R2, R3)
    assert code == 0, err
    assert "log_migrant_stock" in out and "Pseudo R²" in out and "Small sample" in out
    assert "Standard errors in parentheses. * p<0.1, ** p<0.05, *** p<0.01." in out
    assert "Data (3): " in out and "retrieved 2024-01-15" in out


@pytest.mark.parametrize(("name", "check"), [
    ("t.md", "|:---|:---:|"), ("t.tex", r"\toprule"), ("t.html", "<caption>"),
    ("t.csv", "model,term,estimate"), ("t.txt", "FE: pair_id"), ("t.out", "FE: pair_id"),
])
def test_format_from_the_output_name(cli: Runner, tmp_path: Path, name: str, check: str) -> None:
    out_path = tmp_path / name
    code, out, err = cli("table", R1, R2, R3, "-o", str(out_path))
    assert code == 0, err
    assert out == "" and check in out_path.read_text()
    assert leftovers(tmp_path) == []


def test_json_output_is_a_list_file_that_table_reads_back(cli: Runner, tmp_path: Path) -> None:
    both = tmp_path / "both.json"
    code, _, err = cli("table", R1, R3, "-o", str(both))
    assert code == 0, err
    assert [o["model"] for o in json.loads(both.read_text())] == ["ppml", "ols"]
    code, again, err = cli("table", str(both), "--format", "csv")
    code2, direct, _ = cli("table", LIST, "--format", "csv")
    assert code == code2 == 0 and again == direct


def test_table_options(cli: Runner) -> None:
    code, out, err = cli("table", R1, R2, R3, "--format", "md", "--keep", "rta", "--keep", "dist",
                         "--order", "rta", "--rename", "log_dist=Distance", "--ci", "--stars", "0.05,0.01",
                         "--digits", "2", "--title", "Gravity")
    assert code == 0, err
    labels = [line.split("|")[1].strip() for line in out.splitlines() if line.startswith("| ")]
    assert labels[1:5] == ["rta", "", "Distance", ""]
    assert out.startswith("**Gravity**") and "95% confidence intervals in brackets. \\* p\\<0.05" in out
    code, out, _ = cli("table", R1, "--format", "text", "--tstat", "--stars", "none")
    assert code == 0 and "t statistics in parentheses." in out and "*" not in out


def test_standalone_latex(cli: Runner, tmp_path: Path) -> None:
    out_path = tmp_path / "t.tex"
    code, _, err = cli("table", R1, R2, "--standalone", "-o", str(out_path))
    assert code == 0, err
    text = out_path.read_text()
    assert text.startswith(r"\documentclass") and text.rstrip().endswith(r"\end{document}")


BAD_TABLE = [
    (["{foreign}"], "is not a migtrade estimation result"),
    (["{newer}"], "newer migtrade"),
    (["{csv}"], "is not a JSON file"),
    (["{tmp}/missing.json"], "does not exist"),
    ([R1, "-o", "/no/such/dir/t.md"], "does not exist"),
    ([R1, "--se", "--ci"], "exclude each other"),
    ([R1, "--format", "md", "--standalone"], "--standalone does not apply to md"),
    ([R1, "--rename", "rta"], "is not OLD=NEW"),
    ([R1, "--stars", "1%"], "not a list of numbers"),
    ([R1, "--stars", "0.1,2"], "not between 0 and 1"),
    ([R1, "--keep", "log("], "not a regular expression"),
    ([R1, "--keep", "nosuch"], "leave no coefficient"),
    ([R1, "--digits", "-1"], "digits"),
]


@pytest.mark.parametrize(("args", "message"), BAD_TABLE)
def test_table_bad_input(cli: Runner, tmp_path: Path, args: list[str], message: str) -> None:
    files = {
        "foreign": ('{"name": "other-tool", "results": [1, 2]}', "foreign.json"),
        "newer": (json.dumps({"schema": "migtrade.estimation/2", "model": "ppml"}), "newer.json"),
        "csv": ("model,term\nppml,rta\n", "r.json"),
    }
    paths = {}
    for key, (content, name) in files.items():
        paths[key] = tmp_path / name
        paths[key].write_text(content)
    target = tmp_path / "table.md"
    target.write_text("previous table")
    argv = [a.format(tmp=tmp_path, **paths) for a in args]
    if "-o" not in argv:
        argv += ["-o", str(target)]
    code, out, err = cli("table", *argv)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("migtrade: error: ") and message in lines[0], err
    assert out == "" and target.read_text() == "previous table"
    assert leftovers(tmp_path) == []


# plot --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["png", "svg", "pdf"])
def test_plot_coef(cli: Runner, tmp_path: Path, ext: str) -> None:
    out_path = tmp_path / f"coef.{ext}"
    code, _, err = cli("plot", "coef", R1, R2, R3, "-o", str(out_path), "--drop", "lang", "--title", "Gravity")
    assert code == 0, err
    head = out_path.read_bytes()[:16]
    assert {"png": head.startswith(b"\x89PNG"), "svg": b"<?xml" in head, "pdf": head.startswith(b"%PDF")}[ext]
    assert leftovers(tmp_path) == []


def test_plot_event(cli: Runner, tmp_path: Path) -> None:
    out_path = tmp_path / "event.png"
    code, _, err = cli("plot", "event", EVENT, "-o", str(out_path), "--ref", "-1", "--width", "6",
                       "--height", "4", "--dpi", "100")
    assert code == 0, err
    data = out_path.read_bytes()
    assert struct.unpack(">II", data[16:24]) == (600, 400)
    code, _, err = cli("plot", "event", EVENT, "-o", str(out_path), "--pattern", "lag", "--periods", "0,1,2,3",
                       "--ref", "none")
    assert code == 0, err


BAD_PLOT = [
    (["coef", R1, "-o", "{tmp}/c.gif"], "image format"),
    (["coef", R1, "-o", "/no/such/dir/c.png"], "does not exist"),
    (["coef", R1, "-o", "{tmp}/c.png", "--keep", "nosuch"], "no coefficient to plot"),
    (["coef", R1, "-o", "{tmp}/c.png", "--dpi", "5"], "--dpi"),
    (["event", EVENT, "-o", "{tmp}/c.png", "--ref", "0"], "is estimated"),
    (["event", EVENT, "-o", "{tmp}/c.png", "--ref", "minus one"], "--ref 'minus one' is not a number"),
    (["event", EVENT, "-o", "{tmp}/c.png", "--pattern", "lag", "--periods", "1,2"], "--periods gives 2"),
    (["event", R1, "-o", "{tmp}/c.png"], "no coefficient named like"),
    (["event", "{tmp}/missing.json", "-o", "{tmp}/c.png"], "does not exist"),
]


@pytest.mark.parametrize(("args", "message"), BAD_PLOT)
def test_plot_bad_input(cli: Runner, tmp_path: Path, args: list[str], message: str) -> None:
    target = tmp_path / "c.png"
    target.write_bytes(b"previous image")
    code, _, err = cli("plot", *[a.format(tmp=tmp_path) for a in args])
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("migtrade: error: ") and message in lines[0], err
    assert target.read_bytes() == b"previous image" and leftovers(tmp_path) == []


def test_help(cli: Runner) -> None:
    code, out, _ = cli("plot", "--help")
    assert code == 0 and "coef" in out and "event" in out
    code, out, _ = cli("table", "--help")
    assert code == 0 and all(w in out for w in ("latex", "html", "--standalone", "--keep", "--rename"))


def test_installed_entry_point(tmp_path: Path) -> None:
    exe = str(Path(sys.executable).with_name("migtrade"))
    tex, png = tmp_path / "t.tex", tmp_path / "e.png"
    for args in (["table", R1, R3, "-o", str(tex)], ["plot", "event", EVENT, "-o", str(png)]):
        proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    assert r"\begin{tabular}" in tex.read_text() and png.read_bytes().startswith(b"\x89PNG")
    proc = subprocess.run([exe, "table", str(tmp_path / "none.json")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("migtrade: error: ") and "Traceback" not in proc.stderr
