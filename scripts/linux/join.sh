#!/usr/bin/env bash
# Placeholder: replaced by the real Linux join script (see docs/contracts.md).
set -euo pipefail
echo "not implemented" >&2
exit 2
