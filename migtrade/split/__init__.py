"""Split runs: one model per level of a variable (a sector, a product, an industry), in process
or on a Dask cluster; see :func:`migtrade.split.engine.run_split`."""

from migtrade.split.engine import SplitOptions, SplitRun, run_split
from migtrade.split.outcome import SectorError, SectorOutcome, SectorsFailed, tidy_frame

__all__ = ["SectorError", "SectorOutcome", "SectorsFailed", "SplitOptions", "SplitRun", "run_split",
           "tidy_frame"]
