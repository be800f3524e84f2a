"""autotrader's command line: `python runner.py [run|trace|report] ...` (see --help)."""

from __future__ import annotations

import sys

from autotrader.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
