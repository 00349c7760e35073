"""Lambda entry point: wires the engine once per container and answers each SQS batch with a
partial batch response (`batchItemFailures`)."""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from adjoin.aws import QueueAdapter, SecretReader, StateStore
from adjoin.config import ConfigStore
from adjoin.directory.factory import DirectoryFactory
from adjoin.engine import Engine
from adjoin.log import logger
from adjoin.passwords import OtpDeriver
from adjoin.sessions import CLIENT_CONFIG, SessionCache
from adjoin.settings import Settings

metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "ADJoin",
    service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "ad-join",
)
_engine: Engine | None = None


def _emit(name: str, count: int) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)


def build_engine(settings: Settings, session: boto3.Session | None = None) -> Engine:
    """Create every hub client once; spoke clients come from the session cache on demand."""
    base = session or boto3.Session()
    region = base.region_name or settings.directory_region
    sessions = SessionCache(settings.hub_account_id, base)
    dynamodb = sessions.hub_client("dynamodb", region)
    sqs = sessions.hub_client("sqs", region)
    secrets = SecretReader(
        sessions.hub_client("ssm", settings.directory_region),
        lambda: sessions.hub_client("secretsmanager", settings.directory_region),
        settings.config_cache_ttl_seconds,
    )
    table = base.resource("dynamodb", region_name=region, config=CLIENT_CONFIG).Table(
        settings.config_table_name
    )
    return Engine(
        settings=settings,
        sessions=sessions,
        config_store=ConfigStore(table, settings.config_cache_ttl_seconds),
        state=StateStore(dynamodb, settings.state_table_name),
        queue=QueueAdapter(sqs, settings.queue_url, settings.dlq_url),
        directories=DirectoryFactory(settings, sessions.hub_client, secrets),
        emit_metric=_emit,
        otp=OtpDeriver(sessions.hub_client("kms", region), settings.otp_key_id)
        if settings.otp_key_id
        else None,
    )


def get_engine() -> Engine:
    global _engine  # noqa: PLW0603 - one engine per container
    if _engine is None:
        _engine = build_engine(Settings.from_env())
    return _engine


def reset() -> None:
    """Forget the container's engine (tests; a new configuration)."""
    global _engine  # noqa: PLW0603
    _engine = None


@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    records = event.get("Records") or []
    failures = get_engine().process(records)
    logger.info("batch done", extra={"records": len(records), "failures": len(failures)})
    return {"batchItemFailures": [{"itemIdentifier": mid} for mid in failures]}
