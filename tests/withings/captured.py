"""The captured Withings responses in the shared product docs (`fixtures/withings-captured/`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# The product docs are checked out beside the repository (`/work/shared` next to `/work/main`),
# and CI lays them out the same way.
CAPTURED = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "withings-captured"


def load_captured(name: str) -> Any:
    """The decoded JSON of one captured Withings response."""
    return json.loads((CAPTURED / name).read_text(encoding="utf-8"))
