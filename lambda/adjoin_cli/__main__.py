"""`python -m adjoin_cli` is `ad-join`."""

import sys

from adjoin_cli.main import main

sys.exit(main())
