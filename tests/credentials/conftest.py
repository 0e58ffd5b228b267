"""Fixtures of the credentials tests: a data key (occupational health credentials are sealed) and the
app that uses it; cheap Argon2 for the test clients."""

from tests.passport.conftest import app, data_keys, fast_hashing

__all__ = ["app", "data_keys", "fast_hashing"]
