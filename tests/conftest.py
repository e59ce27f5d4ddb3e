"""Every async test runs on asyncio and on trio, with virtual time."""

from beamish.testing import anyio_backend  # noqa: F401
