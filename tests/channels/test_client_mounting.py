"""The endpoint mounted in FastAPI and behind Django's ASGI app (``fallback=``), served by
uvicorn, driven by beamish.channels.client; the framework still answers its own routes."""

from __future__ import annotations

import contextlib
import functools
import json
import socket
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

import beamish
from beamish import channels
from beamish.channels import client

from .app import UserSocket

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """uvicorn serves on asyncio; real clocks."""
    return "asyncio"


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[int]:
    """``app`` under uvicorn in this event loop; its port."""
    import uvicorn

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)  # listening now: a client that comes early waits in the backlog
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    with listener:
        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(server.serve, sockets=[listener]))
            try:
                yield listener.getsockname()[1]
            finally:
                server.should_exit = True


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


async def exercise(port: int) -> None:
    async with client.connect(f"ws://127.0.0.1:{port}/socket", {"user": "ann"}) as sock:
        room = sock.channel("room:mounted")
        assert await room.join() == {"joined": "room:mounted", "user": "ann"}
        assert await room.push("echo", {"x": 1}) == client.Reply("ok", {"x": 1})
        assert (await room.push("info")).response["uri"].startswith(f"ws://127.0.0.1:{port}/")


async def test_mounted_in_fastapi() -> None:
    fastapi = pytest.importorskip("fastapi")
    endpoint = channels.Endpoint(
        UserSocket, path="", check_origin=False, start_node=beamish.runtime.start
    )
    app = fastapi.FastAPI(lifespan=endpoint.lifespan)

    @app.get("/hello")
    def hello() -> dict[str, str]:
        return {"hello": "from fastapi"}

    app.mount("/socket", endpoint)
    with anyio.fail_after(30):
        async with serving(app) as port:
            await exercise(port)
            hello = await anyio.to_thread.run_sync(get_json, f"http://127.0.0.1:{port}/hello")
            assert hello == {"hello": "from fastapi"}


def django_hello(request: Any) -> Any:
    from django.http import JsonResponse

    return JsonResponse({"hello": "from django"})


def _urlpatterns() -> list[Any]:
    from django.urls import path

    return [path("hello", django_hello)]


def __getattr__(name: str) -> Any:  # this module is Django's ROOT_URLCONF
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)


async def test_behind_django_as_fallback() -> None:
    pytest.importorskip("django")
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False, SECRET_KEY="test", ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__
        )
    from django.core.asgi import get_asgi_application

    endpoint = channels.Endpoint(
        UserSocket,
        path="/socket",
        check_origin=False,
        start_node=beamish.runtime.start,
        fallback=get_asgi_application(),
    )
    with anyio.fail_after(30):
        async with serving(endpoint) as port:
            await exercise(port)
            hello = await anyio.to_thread.run_sync(get_json, f"http://127.0.0.1:{port}/hello")
            assert hello == {"hello": "from django"}
