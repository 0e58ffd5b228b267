"""Fixtures of the audit of issue 3: those of the verification tests (the app with a data key, a doctor
with records submitted through the API, a theatre-list policy, verifier, holder and issuer callers)."""

from tests.passport.conftest import data_keys
from tests.verification.conftest import app, scene

__all__ = ["app", "data_keys", "scene"]
