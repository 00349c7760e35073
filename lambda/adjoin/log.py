"""The Powertools logger shared by the engine (structured JSON on stdout)."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "ad-join")
