"""Fixtures for runbook tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.tools.runbooks.fake_api import FakeApi, serve_fake_api


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    with serve_fake_api() as api:
        yield api
