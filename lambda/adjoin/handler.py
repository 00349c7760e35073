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
from adjoin.reconciler import Reconciler, Task, parse_task
from adjoin.sessions import CLIENT_CONFIG, SessionCache
from adjoin.settings import Settings

metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "ADJoin",
    service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "ad-join",
)
_engine: Engine | None = None
_reconciler: Reconciler | None = None


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
    global _engine, _reconciler  # noqa: PLW0603
    _engine = _reconciler = None


def build_reconciler(engine: Engine) -> Reconciler:
    """The reconciler shares the engine's clients, caches and adapters."""
    return Reconciler(
        settings=engine.settings,
        client=engine._client,  # the spoke client of the engine: the same role and session cache
        config_store=engine.config_store,
        state=engine.state,
        sqs=engine.sessions.hub_client("sqs", engine.settings.directory_region),
        directories=engine.directories,
        emit_metric=engine.emit_metric,
    )


def get_reconciler() -> Reconciler:
    global _reconciler  # noqa: PLW0603 - one per container
    if _reconciler is None:
        _reconciler = build_reconciler(get_engine())
    return _reconciler


def _reconcile(event: dict[str, Any]) -> dict[str, Any]:
    """A direct invocation: {"action": "reconcile", "dryRun": bool} starts a run (the schedule);
    with "account" and "region" it runs that one task now and returns its report (the CLI)."""
    reconciler = get_reconciler()
    dry_run = bool(event.get("dryRun"))
    if event.get("account") and event.get("region"):
        task = Task(str(event["account"]), str(event["region"]), "on-demand", dry_run)
        return reconciler.run_task(task).as_dict()
    return reconciler.start_run(dry_run=dry_run)


def _run_tasks(tasks: list[tuple[str, Task]]) -> list[str]:
    """Reconcile tasks of an SQS batch; an unexpected error retries the task's message."""
    failures = []
    for message_id, task in tasks:
        try:
            get_reconciler().run_task(task)
        except Exception:
            logger.exception("reconcile task failed", extra={"message_id": message_id})
            failures.append(message_id)
    return failures


@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("action") == "reconcile":
        return _reconcile(event)
    records = event.get("Records") or []
    tasks, events = [], []
    for record in records:
        task = parse_task(str(record.get("body") or ""))
        if task is None:
            events.append(record)
        else:
            tasks.append((str(record.get("messageId", "")), task))
    failures = get_engine().process(events) if events or not tasks else []
    failures += _run_tasks(tasks)
    logger.info("batch done", extra={"records": len(records), "failures": len(failures)})
    return {"batchItemFailures": [{"itemIdentifier": mid} for mid in failures]}
