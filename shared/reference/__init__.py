"""Reference data handed over with the policy material (copied from ../shared/policy/)."""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path
from typing import Any

COUNTIES_CSV = Path(__file__).parent / "jilin_counties.csv"


@lru_cache(maxsize=1)
def jilin_counties() -> tuple[dict[str, Any], ...]:
    """code, name, prefecture, two_lines_year (001 专栏6) of every county and district of Jilin."""
    with COUNTIES_CSV.open(encoding="utf-8") as handle:
        return tuple({**row, "two_lines_year": int(row["two_lines_year"])} for row in csv.DictReader(handle))
