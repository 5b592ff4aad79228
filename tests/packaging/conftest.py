"""The installer runs as `python3 packaging/install.py` (its folder on sys.path): its tests import it the same way."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "packaging"))
