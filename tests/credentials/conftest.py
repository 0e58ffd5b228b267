"""Fixtures of the credentials tests: a data key (occupational health credentials are sealed) and the
app that uses it."""

from tests.passport.conftest import app, data_keys

__all__ = ["app", "data_keys"]
