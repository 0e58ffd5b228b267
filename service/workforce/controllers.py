"""HTTP routes of the workforce domain."""

from collections.abc import Sequence

from litestar.types import ControllerRouterHandler

WORKFORCE_HANDLERS: Sequence[ControllerRouterHandler] = []
