"""Fixtures of the engine's unit tests: fake credentials, moto, FakeAws, a world, an engine."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from moto import mock_aws

from adjoin import handler
from adjoin.engine import Engine
from adjoin.log import logger
from adjoin.settings import Settings
from tests.unit import fakes


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "MOTO_ACCOUNT_ID"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", fakes.HUB_REGION)
    monkeypatch.setenv("AWS_REGION", fakes.HUB_REGION)


@pytest.fixture
def fake(aws_env: None) -> Iterator[fakes.FakeAws]:
    with fakes.fake_aws() as fake_aws, mock_aws():
        yield fake_aws


@pytest.fixture
def world(fake: fakes.FakeAws) -> fakes.World:
    from adjoin.directory import ad_tools_host

    ad_tools_host._hosts.clear()  # per-container cache: each test is a new container
    return fakes.make_world()


class Recorder:
    """Metrics and the engine's log lines, as the tests see them."""

    def __init__(self) -> None:
        self.metrics: Counter[str] = Counter()
        self.lines: list[str] = []

    def emit(self, name: str, count: int) -> None:
        self.metrics[name] += count


class _Capture(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    capture = _Capture(rec.lines)
    capture.setFormatter(logger.registered_formatter)
    logger._logger.addHandler(capture)  # the JSON lines exactly as Lambda would print them
    try:
        yield rec
    finally:
        logger._logger.removeHandler(capture)


MakeEngine = Callable[..., Engine]


@pytest.fixture
def make_engine(world: fakes.World, recorder: Recorder) -> MakeEngine:
    def build(*, ldap: Any = None, clock_ms: Callable[[], int] | None = None, **env: str) -> Engine:
        settings = Settings.from_env(world.env(**env))
        engine = handler.build_engine(settings)
        engine.emit_metric = recorder.emit
        if clock_ms is not None:
            engine.clock_ms = clock_ms
        if ldap is not None:
            engine.directories._ldap_class = lambda: ldap
        return engine

    return build
