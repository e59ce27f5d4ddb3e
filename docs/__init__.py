"""Makes docs/conftest.py import as ``docs.conftest``, apart from tests/conftest.py."""
