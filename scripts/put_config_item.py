#!/usr/bin/env python3
"""Write one account's item to the ad-join config table: the same as `ad-join config put`.

Kept for existing runbooks; the code is lambda/adjoin_cli/config_item.py (see its docstring).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lambda"))
from adjoin_cli.config_item import build_item, main, parser

__all__ = ["build_item", "main", "parser"]

if __name__ == "__main__":
    sys.exit(main())
