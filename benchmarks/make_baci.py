"""Write a BACI-shaped release zip of realistic size, its covariates and stocks, and the true elasticities.

Usage::

    python benchmarks/make_baci.py --products 2000 --countries 80 --years 5 --seed 1 \\
        --out benchmarks/out/BACI_HS92_V202401b.zip

2,000 products x 80 x 79 pairs x 5 years = 63.2 M cells, of which about 65% are positive flows
written to the yearly CSVs (BACI lists no zeros); beside the zip go
``<stem>_covariates.csv.gz``, ``<stem>_stocks.csv.gz`` and ``<stem>_truth.csv`` (each product's
true elasticities). The data generating process is in :mod:`migtrade.synthetic.baci`; the zip
is written one exporter-year block at a time, so memory stays flat whatever the size.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

from migtrade.synthetic.baci import write_baci_zip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--countries", type=int, default=80)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--zero-share", type=float, default=0.35)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/BACI_HS92_V202401b.zip"))
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    release = write_baci_zip(args.out, products=args.products, countries=args.countries, years=args.years,
                             seed=args.seed, zero_share=args.zero_share)
    stem = args.out.name[:-4] if args.out.name.endswith(".zip") else args.out.name
    release.truth.to_csv(args.out.with_name(f"{stem}_truth.csv"), index=False)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{release.zip_path}: {release.rows:,} positive flows of {release.cells:,} cells "
          f"({1 - release.rows / release.cells:.1%} zeros), {release.zip_path.stat().st_size / 1e6:,.0f} MB, "
          f"{seconds:.1f} s, peak memory {peak_mb:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
