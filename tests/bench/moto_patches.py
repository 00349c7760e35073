"""Emulator-speed patch for the in-process benchmark (no change of behaviour).

moto 5.2.5 `DynamoDBBackend.transact_write_items` deep-copies the whole table once per item of
the transaction, to roll back if the transaction is cancelled: a 100-item transaction on a table
of N items costs 100 deep copies of N items (about a second of CPU here), a cost of the emulator,
not of DynamoDB. While the patch is active, the table copies made by one transaction are shared
between its items: the copy is still taken before any write of the transaction, so the rollback
restores exactly the same state. tests/unit/test_moto_patches.py checks commit and rollback.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import moto.dynamodb.models as ddb_models
from moto.dynamodb.models.table import Table

_local = threading.local()


class _CopyTablesOnce:
    """Stands in for the `copy` module inside moto.dynamodb.models during a transaction."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(obj: Any, memo: Any = None) -> Any:
        copies: dict[int, Any] | None = getattr(_local, "copies", None)
        if copies is None or not isinstance(obj, Table):
            return copy.deepcopy(obj, memo)
        if id(obj) not in copies:
            copies[id(obj)] = copy.deepcopy(obj)
        return copies[id(obj)]


@contextmanager
def fast_transactions() -> Iterator[None]:
    original = ddb_models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        _local.copies = {}
        try:
            original(self, transact_items)
        finally:
            _local.copies = None

    ddb_models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    ddb_models.copy = _CopyTablesOnce()  # type: ignore[assignment]
    try:
        yield
    finally:
        ddb_models.DynamoDBBackend.transact_write_items = original  # type: ignore[method-assign]
        ddb_models.copy = copy
