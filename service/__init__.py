"""Staff Passport Registry."""

from service import native

__version__ = "0.1.0"

native.install()
