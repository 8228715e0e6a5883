"""The console script builds only the command it runs, and behaves as the whole app does.

``migtrade estimate ...`` imports and builds the estimate command alone (the other command
modules, the bias corrections and the sources stay unloaded); the root's help, --version and a
misspelt command still see every command.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from migtrade.cli.app import COMMAND_MODULES, build_app

Runner = Callable[..., tuple[int, str, str]]

PROBE = """
import json, sys
from migtrade.cli.app import main
sys.argv = ["migtrade", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith("migtrade"))), file=sys.stderr)
"""


def _modules_loaded(*args: str) -> tuple[int, set[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          timeout=120, check=False)
    return done.returncode, set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.fixture(name="small_csv")
def small_csv_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(5)
    n = 300
    frame = pd.DataFrame({"exporter": rng.choice(list("ABCDEFGH"), n),
                          "importer": rng.choice(list("PQRSTUVW"), n),
                          "x": rng.normal(size=n)})
    frame["trade"] = rng.poisson(np.exp(1.0 + 0.3 * frame["x"]))
    path = tmp_path / "small.csv"
    frame.to_csv(path, index=False)
    return path


def test_estimate_loads_only_its_command(small_csv: Path) -> None:
    code, loaded = _modules_loaded("estimate", "trade ~ x | exporter + importer", "--data",
                                   str(small_csv), "--format", "json")
    assert code == 0
    assert "migtrade.cli.estimate" in loaded and "migtrade.estimation.fit" in loaded
    others = {f"migtrade.cli.{m}" for m in COMMAND_MODULES if m != "estimate"}
    assert not loaded & others
    assert "migtrade.estimation.bias_correction" not in loaded
    assert not {m for m in loaded if m.startswith("migtrade.sources")}


def test_estimate_does_not_load_scipy_special(small_csv: Path) -> None:
    """scipy.special (0.16 s of every process: it pulls array_api_compat and numpy.f2py) stays
    unloaded by an OLS and a PPML estimate: p-values, intervals and log(y!) are the project's."""
    probe = PROBE.replace('m.startswith("migtrade")', 'm.startswith("scipy.special")')
    for model, formula in (("ols", "x ~ trade | exporter + importer"),
                           ("ppml", "trade ~ x | exporter + importer")):
        done = subprocess.run([sys.executable, "-c", probe, "estimate", formula, "--data",
                               str(small_csv), "--model", model, "--format", "json"],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stderr.strip().splitlines()[-1]) == [], model


def test_root_help_lists_every_command(cli: Runner) -> None:
    code, out, _ = cli("--help")
    assert code == 0
    whole = build_app()
    names = {c.name for c in whole.registered_commands} | {g.name for g in whole.registered_groups}
    assert names == set(COMMAND_MODULES)
    for name in COMMAND_MODULES:
        assert name in out


def test_one_command_app_runs_as_the_whole_app(cli: Runner, small_csv: Path) -> None:
    args = ("estimate", "trade ~ x | exporter + importer", "--data", str(small_csv),
            "--format", "json")
    code, out, _ = cli(*args)
    from typer.testing import CliRunner

    whole = CliRunner().invoke(build_app(), list(args))
    assert code == whole.exit_code == 0
    mine, theirs = json.loads(out), json.loads(whole.stdout)
    assert mine["coefficients"] == theirs["coefficients"]
    # A misspelt command and an unknown option end in one line and exit 2, as before.
    code, _, err = cli("estimat", "x")
    assert code == 2 and err.count("\n") == 1 and "No such command" in err
    assert "Did you mean 'estimate'? Run with --help" in err  # one stop, not "?."
    code, _, err = cli("estimate", "y ~ x", "--data", str(small_csv), "--bogus")
    assert code == 2 and err.count("\n") == 1 and "--bogus" in err


def test_each_command_module_registers_the_command_of_its_name() -> None:
    """The console script picks the module by the first argument: each module must register
    exactly the command named as it, or that command would be missing from its one-command app."""
    import typer.main

    from migtrade.cli.app import COMMAND_MODULES, build_app

    for name in COMMAND_MODULES:
        group = typer.main.get_command(build_app((name,)))
        assert sorted(group.commands) == [name]  # type: ignore[attr-defined]


@pytest.mark.parametrize("given, want", [(None, "False"), ("1", "True")])
def test_the_command_line_asks_numpy_for_no_huge_pages_unless_told(given: str | None,
                                                                   want: str) -> None:
    """The program turns NumPy's transparent-huge-page hint off before numpy loads (the kernel's
    compaction on the first faults stalled short processes); a value the user set is kept."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if given is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = given
    script = ("import migtrade.cli.app, numpy; "
              "from numpy._core.multiarray import _get_madvise_hugepage; "
              "print(_get_madvise_hugepage())")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == want
