"""The smallest Litestar app: the baseline that bench/http_throughput.py compares the service against.

uvicorn bench.hello_app:app            # module-level app
uvicorn bench.hello_app:create_app --factory
"""

from __future__ import annotations

from litestar import Litestar, get


@get("/", sync_to_thread=False)
def hello() -> dict[str, str]:
    return {"hello": "world"}


def create_app() -> Litestar:
    return Litestar(route_handlers=[hello], openapi_config=None)


app = create_app()
