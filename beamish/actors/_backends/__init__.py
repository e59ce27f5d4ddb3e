"""The cheapest-spawn seam: one small interface, one module per event loop family."""

from ._base import Backend as Backend
from ._base import current_async_library as current_async_library
from ._base import current_backend as current_backend
