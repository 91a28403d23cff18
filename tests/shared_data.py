"""Where the real public data sets are (../shared/data beside the checkout, by convention).

A clone elsewhere (a CI runner's work folder, /tmp) finds them through PATRON_SHARED_DATA or
the workplace's fixed location; tests that need a large file and find none generate a sample
or say why they skip.
"""

from __future__ import annotations

import os
from pathlib import Path

_CANDIDATES = [
    Path(os.environ["PATRON_SHARED_DATA"]) if os.environ.get("PATRON_SHARED_DATA") else None,
    Path(__file__).resolve().parents[2] / "shared" / "data",
    Path("/work/shared/data"),
]
SHARED = next((p for p in _CANDIDATES if p is not None and p.is_dir()), _CANDIDATES[1])
