"""One-time passwords for pre-created computer accounts.

The characters are the ones the join documents' `oneTimePassword` parameter admits
(`ONE_TIME_PASSWORD_PATTERN`, also in docs/contracts.md); every password holds an upper-case
letter, a lower-case letter, a digit and a symbol, so it meets AD complexity rules.
"""

from __future__ import annotations

import secrets
import string

ONE_TIME_PASSWORD_PATTERN = r"^[A-Za-z0-9._~+=-]{16,64}$"  # noqa: S105 - a pattern
SYMBOLS = "._~+=-"
ALPHABET = string.ascii_letters + string.digits + SYMBOLS
DEFAULT_LENGTH = 32
_CLASSES = (string.ascii_uppercase, string.ascii_lowercase, string.digits, SYMBOLS)


def one_time_password(length: int = DEFAULT_LENGTH) -> str:
    """A random password from the `secrets` module with one character of every class."""
    if not 16 <= length <= 64:
        raise ValueError("one-time password length must be 16-64")
    while True:
        candidate = "".join(secrets.choice(ALPHABET) for _ in range(length))
        if all(any(c in cls for c in candidate) for cls in _CLASSES):
            return candidate
