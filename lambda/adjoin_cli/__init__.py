"""The operator's command line, `ad-join` (not part of the Lambda package)."""
