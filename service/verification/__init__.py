"""Verification for provider HR: presentation requests, verifications against compliance policies, and the
holder's transparency log of every verification of their credentials."""
