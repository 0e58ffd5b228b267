"""Staff Passport Registry."""

__version__ = "0.1.0"
