"""Write a synthetic gravity panel to parquet or CSV, with its true coefficients beside it.

Usage::

    python benchmarks/make_panel.py --countries 200 --years 40 --seed 1 \\
        --out benchmarks/out/panel_200x40.parquet

The format follows the extension of ``--out`` (``.parquet`` or ``.csv``). A JSON file with the same
stem (``panel_200x40.json``) records the description, the parameters and the true coefficients, so
that whoever estimates on the panel later can compare against the truth without regenerating it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

from migtrade import __version__
from migtrade.synthetic import gravity
from migtrade.synthetic.gravity import gravity_panel


def generator_fingerprint() -> str:
    """Short hash of the generator's source, so that cached panels from older code can be spotted.

    Returns
    -------
    str
        The first 16 hex digits of the SHA-256 of ``migtrade/synthetic/gravity.py``.
    """
    return hashlib.sha256(Path(gravity.__file__).read_bytes()).hexdigest()[:16]


def sidecar_path(out: Path) -> Path:
    """Path of the JSON file that describes the panel written to ``out``.

    Parameters
    ----------
    out
        Path of the panel file.

    Returns
    -------
    Path
        ``out`` with its extension replaced by ``.json``.
    """
    return out.with_suffix(".json")


def write_panel(
    out: Path,
    *,
    countries: int,
    years: int,
    seed: int,
    zero_share: float = 0.3,
    domestic: bool = False,
) -> dict[str, object]:
    """Generate a panel, write it to ``out`` and its metadata next to it.

    Parameters
    ----------
    out
        Destination; ``.parquet`` or ``.csv``. Missing parent directories are created.
    countries, years, seed, zero_share, domestic
        Passed to :func:`migtrade.synthetic.gravity.gravity_panel`.

    Returns
    -------
    dict
        The metadata written to the sidecar JSON file.
    """
    suffix = out.suffix.lower()
    if suffix not in {".parquet", ".csv"}:
        raise SystemExit(f"--out must end in .parquet or .csv, got {out.name!r}")
    out.parent.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    panel = gravity_panel(
        countries, years, seed=seed, zero_share=zero_share, include_domestic=domestic
    )
    generated = time.perf_counter()
    # Write to a temporary name first so that an interrupted run never leaves a truncated panel
    # that a later benchmark would mistake for a cached one.
    tmp = out.with_name(out.name + ".partial")
    if suffix == ".parquet":
        panel.frame.to_parquet(tmp, index=False)
    else:
        panel.frame.to_csv(tmp, index=False)
    tmp.replace(out)
    written = time.perf_counter()

    meta: dict[str, object] = {
        "description": panel.description,
        "truth": panel.truth,
        "parameters": {
            "n_countries": countries,
            "n_years": years,
            "seed": seed,
            "zero_share": zero_share,
            "include_domestic": domestic,
        },
        "rows": len(panel.frame),
        "columns": list(panel.frame.columns),
        "generator": "migtrade.synthetic.gravity.gravity_panel",
        "generator_fingerprint": generator_fingerprint(),
        "migtrade_version": __version__,
        "seconds": {"generate": generated - start, "write": written - generated},
    }
    sidecar_path(out).write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--countries", type=int, default=40, help="number of countries")
    parser.add_argument("--years", type=int, default=10, help="number of years, from 1990")
    parser.add_argument("--seed", type=int, default=2016, help="random seed")
    parser.add_argument(
        "--zero-share", type=float, default=0.3, help="expected share of zero flows"
    )
    parser.add_argument("--domestic", action="store_true", help="add exporter == importer rows")
    parser.add_argument("--out", type=Path, required=True, help="output .parquet or .csv")
    args = parser.parse_args(argv)

    meta = write_panel(
        args.out,
        countries=args.countries,
        years=args.years,
        seed=args.seed,
        zero_share=args.zero_share,
        domestic=args.domestic,
    )
    secs = meta["seconds"]
    assert isinstance(secs, dict)
    print(meta["description"])
    print(
        f"wrote {args.out} and {sidecar_path(args.out).name} "
        f"(generate {secs['generate']:.2f} s, write {secs['write']:.2f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
