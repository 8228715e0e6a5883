"""The store under stress: processes killed mid-write, concurrent writers and readers, memory.

Writers run as separate processes, because the guarantees are about processes: a SIGKILL runs no
cleanup code, and two processes share nothing but the files and the locks.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from migtrade.store.catalog import Store
from migtrade.store.faults import CRASH_ENV, CRASH_POINTS
from migtrade.store.provenance import Provenance, utc_timestamp

WRITER = r"""
import sys
import numpy as np, pandas as pd
from migtrade.store.catalog import Store
from migtrade.store.provenance import Provenance, utc_timestamp
root, names, marker, rows, repeat = sys.argv[1], sys.argv[2].split(","), *map(int, sys.argv[3:6])
store = Store(root)
for i in range(repeat):
    for name in names:
        frame = pd.DataFrame({"marker": np.full(rows, marker + i, dtype=np.int64),
                              "x": np.arange(rows, dtype=np.float64)})
        store.write(name, frame, Provenance(source="file", location="test", retrieved_at=utc_timestamp(),
                                            sha256="0" * 64, parser_version="1", rows=rows))
"""


def spawn(root: Path, names: str, marker: int, rows: int = 1000, repeat: int = 1,
          crash_at: str | None = None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    if crash_at:
        env[CRASH_ENV] = crash_at
    return subprocess.Popen([sys.executable, "-c", WRITER, str(root), names, str(marker), str(rows),
                             str(repeat)], env=env, stderr=subprocess.PIPE)


def frame(marker: int, rows: int = 1000) -> pd.DataFrame:
    return pd.DataFrame({"marker": np.full(rows, marker, dtype=np.int64),
                         "x": np.arange(rows, dtype=np.float64)})


def prov(rows: int) -> Provenance:
    return Provenance(source="file", location="test", retrieved_at=utc_timestamp(), sha256="0" * 64,
                      parser_version="1", rows=rows)


def consistent_marker(store: Store, name: str, rows: int = 1000) -> int:
    """Read ``name`` and check it is one whole version; return its marker."""
    got = store.read(name)
    assert len(got) == rows
    assert got["marker"].nunique() == 1
    np.testing.assert_array_equal(got["x"].to_numpy(), np.arange(rows, dtype=np.float64))
    return int(got["marker"].iloc[0])


def leftovers(store: Store) -> tuple[int, int]:
    return len(list((store.root / "data").iterdir())), len(list((store.root / "tmp").iterdir()))


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_kill_at_each_step_keeps_previous_version(tmp_path: Path, point: str) -> None:
    store = Store(tmp_path / "store")
    store.write("d", frame(1), prov(1000))
    proc = spawn(store.root, "d", 2, crash_at=point)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err.decode()

    assert [i.name for i in store.list()] == ["d"]
    committed = point == "committed"
    assert consistent_marker(store, "d") == (2 if committed else 1)
    assert store.info("d").version == (2 if committed else 1)
    assert int(store.sql("SELECT count(*) AS n FROM d")["n"].iloc[0]) == 1000
    data, tmp = leftovers(store)
    assert (data, tmp) == {"staged": (1, 1), "placed": (2, 0), "uncommitted": (2, 0),
                           "committed": (2, 0)}[point]

    store.write("d", frame(3), prov(1000))
    assert consistent_marker(store, "d") == 3
    assert leftovers(store) == (1, 0), "the next write deletes what the killed one left"


def test_kill_during_first_write_leaves_empty_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    proc = spawn(store.root, "d", 1, crash_at="uncommitted")
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert store.list() == [] and not store.exists("d")
    store.write("e", frame(1), prov(1000))
    assert leftovers(store) == (1, 0)


@pytest.mark.slow
def test_kill_after_random_delays(tmp_path: Path) -> None:
    rows = 1_500_000
    store = Store(tmp_path / "store")
    store.write("big", frame(0, rows), prov(rows))
    rng = np.random.default_rng(7)
    seen, killed = set(), 0
    for round_ in range(6):
        # Twenty writes outlast the longest delay even on a fast machine, so every kill lands on
        # a live writer, at a random point of its work.
        proc = spawn(store.root, "big", 100 * (round_ + 1), rows=rows, repeat=20)
        time.sleep(float(rng.uniform(0.3, 2.0)))
        killed += proc.poll() is None
        proc.kill()
        proc.wait(timeout=60)
        seen.add(consistent_marker(store, "big", rows))
        assert [i.name for i in store.list()] == ["big"]
        assert store.info("big").rows == rows
    assert killed >= 3, "most rounds must kill a live writer"
    store.write("big", frame(1, 10), prov(10))
    assert leftovers(store) == (1, 0)


@pytest.mark.slow
def test_concurrent_writers_and_reader(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    store.write("shared", frame(0), prov(1000))
    repeat = 8
    writers = [spawn(store.root, "shared,only-a", 1000, repeat=repeat),
               spawn(store.root, "shared,only-b", 2000, repeat=repeat)]
    reads = 0
    while any(p.poll() is None for p in writers):
        marker = consistent_marker(store, "shared")
        assert marker == 0 or 1000 <= marker < 1000 + repeat or 2000 <= marker < 2000 + repeat
        store.list()
        reads += 1
    for proc in writers:
        _, err = proc.communicate()
        assert proc.returncode == 0, err.decode()
    assert reads > 0
    infos = {i.name: i for i in store.list()}
    assert set(infos) == {"shared", "only-a", "only-b"}
    assert infos["shared"].version == 1 + 2 * repeat
    assert infos["only-a"].version == infos["only-b"].version == repeat
    assert consistent_marker(store, "only-a") == 1000 + repeat - 1
    assert consistent_marker(store, "only-b") == 2000 + repeat - 1
    assert leftovers(store) == (3, 0)


MEMORY = r"""
import re, sys
import numpy as np, pandas as pd
from migtrade.store.catalog import Store
from migtrade.store.provenance import Provenance, utc_timestamp

def status(key):
    text = open("/proc/self/status").read()
    return int(re.search(rf"{key}:\s+(\d+) kB", text).group(1)) * 1024

n = 5_000_000
frame = pd.DataFrame({"a": np.arange(n, dtype=np.float64), "b": np.arange(n, dtype=np.int64),
                      "c": np.linspace(0, 1, n), "d": np.ones(n)})
nbytes = int(frame.memory_usage(index=False).sum())
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # reset the peak, so that building the frame does not count
Store(sys.argv[1]).write("big", frame, Provenance(source="file", location="x",
    retrieved_at=utc_timestamp(), sha256="0" * 64, parser_version="1", rows=n))
print(nbytes, before, status("VmHWM"))
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_write_needs_at_most_about_twice_the_frame(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", MEMORY, str(tmp_path / "store")],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 and re.search(r"clear_refs", proc.stderr):
        pytest.skip("cannot reset the peak memory counter here")
    assert proc.returncode == 0, proc.stderr
    nbytes, before, peak = map(int, proc.stdout.split())
    # Everything held during the write (frame included) stays within ~2x the frame.
    assert peak <= before + 1.2 * nbytes, (nbytes, before, peak)
