"""`python -m tests.bench`: see tests/bench/report.py."""

from tests.bench.report import main

raise SystemExit(main())
