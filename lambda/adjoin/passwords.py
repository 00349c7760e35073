"""One-time passwords for pre-created computer accounts.

The characters are the ones the join documents' `oneTimePassword` parameter admits
(`ONE_TIME_PASSWORD_PATTERN`, also in docs/contracts.md); every password holds an upper-case
letter, a lower-case letter, a digit and a symbol, so it meets AD complexity rules.

A join's password is *derived*, never stored: `OtpDeriver` asks KMS once per container and day
for a derivation key (GenerateMac of a fixed label with the hub's HMAC key, `OTP_KEY_ID`), kept in
memory only, and the password of a claim is HMAC-SHA256(derivation key, instance id | claim).
Every attempt of the same claim (a retry after a lost answer, a redelivery after a crash) gets
the same password, so it can finish the join it started; a new claim gets a new one. The threat
model is in docs/contracts.md ("One-time passwords").
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import threading
from typing import Any

ONE_TIME_PASSWORD_PATTERN = r"^[A-Za-z0-9._~+=-]{16,64}$"  # noqa: S105 - a pattern
SYMBOLS = "._~+=-"
ALPHABET = string.ascii_letters + string.digits + SYMBOLS
DEFAULT_LENGTH = 32
_CLASSES = (string.ascii_uppercase, string.ascii_lowercase, string.digits, SYMBOLS)
#: bytes at or above this are dropped, so that every character is equally likely
_UNBIASED = 256 - 256 % len(ALPHABET)
#: GenerateMac's message: the derivation key of one UTC day (of the claiming message's send time)
DERIVATION_LABEL = "ad-join one-time password derivation key v1, day {day}"
DAY_MS = 86_400_000


def _meets_rules(candidate: str) -> bool:
    return all(any(c in cls for c in candidate) for cls in _CLASSES)


def one_time_password(length: int = DEFAULT_LENGTH) -> str:
    """A random password from the `secrets` module with one character of every class."""
    if not 16 <= length <= 64:
        raise ValueError("one-time password length must be 16-64")
    while True:
        candidate = "".join(secrets.choice(ALPHABET) for _ in range(length))
        if _meets_rules(candidate):
            return candidate


def derive_password(key: bytes, context: str, length: int = DEFAULT_LENGTH) -> str:
    """The password for `context` under `key`: HMAC-SHA256 blocks read as characters of
    ALPHABET (unbiased), the first candidate that meets the rules. Deterministic."""
    if not 16 <= length <= 64:
        raise ValueError("one-time password length must be 16-64")
    for attempt in range(1000):
        chars: list[str] = []
        block = 0
        while len(chars) < length:
            digest = hmac.new(key, f"{context}|{attempt}|{block}".encode(), hashlib.sha256)
            chars += [ALPHABET[b % len(ALPHABET)] for b in digest.digest() if b < _UNBIASED]
            block += 1
        candidate = "".join(chars[:length])
        if _meets_rules(candidate):
            return candidate
    raise AssertionError("no password met the rules")  # pragma: no cover - p < 1e-100


class OtpDeriver:
    """Derives one-time passwords from a KMS HMAC key (one GenerateMac per container and day).

    Thread-safe: the first caller of a day asks KMS, the others wait for its answer.
    """

    def __init__(self, kms_client: Any, key_id: str) -> None:
        self._kms = kms_client
        self._key_id = key_id
        self._keys: dict[int, bytes] = {}
        self._lock = threading.Lock()

    def _derivation_key(self, day: int) -> bytes:
        with self._lock:
            if day not in self._keys:
                response = self._kms.generate_mac(
                    KeyId=self._key_id,
                    Message=DERIVATION_LABEL.format(day=day).encode(),
                    MacAlgorithm="HMAC_SHA_256",
                )
                self._keys = {d: k for d, k in self._keys.items() if d >= day - 1}
                self._keys[day] = bytes(response["Mac"])
            return self._keys[day]

    def password(self, instance_id: str, claim: str, claimed_at_ms: int) -> str:
        """The one-time password of the claim `claim` (the claiming message's id) of the
        instance; `claimed_at_ms` is that message's send time, the same on every delivery."""
        key = self._derivation_key(claimed_at_ms // DAY_MS)
        return derive_password(key, f"{instance_id}|{claim}")
