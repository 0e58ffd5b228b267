"""Web pages: sign-in (OpenID Connect, or the demo page in demo mode) and the landing page."""

from collections.abc import Sequence

from litestar.types import ControllerRouterHandler

WEB_HANDLERS: Sequence[ControllerRouterHandler] = []
