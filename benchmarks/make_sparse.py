"""Write the worker-firm ring panel (the "difficult" sparse design) to Parquet or CSV.

Usage::

    python benchmarks/make_sparse.py --rows 500000 --seed 1 --out benchmarks/out/sparse_500k.parquet

Model to fit: ``y ~ x1 + x2 | indiv + firm + year``, clustered by ``indiv``; true coefficients
x1 = 0.5, x2 = -0.3 (see :mod:`migtrade.synthetic.sparse`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from migtrade.synthetic.sparse import ring_panel


def main() -> None:
    """Parse arguments, generate, write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    panel = ring_panel(args.rows, seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix == ".parquet":
        panel.frame.to_parquet(args.out, index=False)
    else:
        panel.frame.to_csv(args.out, index=False)
    print(panel.description)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
