"""The site's icon: linked from every page, served for a long time, and ``/favicon.ico`` answers (no 404
in the browser's console on every page)."""

import re
import xml.etree.ElementTree as ET

import httpx

from service.web.controllers import ICON

SVG = "{http://www.w3.org/2000/svg}svg"


async def test_every_page_links_the_icon_which_is_served_for_a_year(client: httpx.AsyncClient) -> None:
    for path in ("/", "/signin"):
        page = await client.get(path)
        links = re.findall(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page.text)
        assert links == [ICON], path

    icon = await client.get(ICON)
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    cache = icon.headers["cache-control"]
    assert "public" in cache
    assert "max-age=31536000" in cache
    assert ET.fromstring(icon.content).tag == SVG  # noqa: S314 - our own file


async def test_favicon_ico_leads_to_the_icon(client: httpx.AsyncClient) -> None:
    answer = await client.get("/favicon.ico", headers={"Accept": "image/avif,image/webp,image/*,*/*;q=0.8"})
    assert answer.status_code == 301
    assert answer.headers["location"] == ICON
    assert "max-age=86400" in answer.headers["cache-control"]
    followed = await client.get("/favicon.ico", follow_redirects=True)
    assert followed.status_code == 200
    assert followed.headers["content-type"].startswith("image/svg+xml")
