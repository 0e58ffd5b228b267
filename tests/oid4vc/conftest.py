"""Fixtures of the OpenID4VC tests: the app with a data key (credentials and offers are sealed with it)."""

from tests.passport.conftest import app, data_keys

__all__ = ["app", "data_keys"]
