from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aifinops import Workspace
from tests.notify.servers import HttpServer
from tests.policy.data import build, settings


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data, built once; tests work on copies (marks, audit log, outbox)."""
    return build(tmp_path_factory.mktemp("policy") / "ws")


@pytest.fixture
def http() -> Iterator[HttpServer]:
    server = HttpServer()
    yield server
    server.stop()


@pytest.fixture
def workspace(built: Path, tmp_path: Path, http: HttpServer) -> Iterator[Callable[..., Workspace]]:
    """A fresh copy of the workspace with the recording executor and the webhook channel."""
    root = tmp_path / "ws"
    shutil.copytree(built, root)
    opened: list[Workspace] = []

    def open_ws() -> Workspace:
        ws = Workspace(root, settings=settings(root, http.url))
        opened.append(ws)
        return ws

    yield open_ws
    for ws in opened:
        ws.close()
