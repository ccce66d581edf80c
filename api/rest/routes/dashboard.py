"""/dashboard: one static page and its script and styles. The page holds no data: it asks for a
token and reads everything through the API, with the same authentication as any client."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from api.rest.errors import NotFound

ASSETS = Path(__file__).resolve().parent.parent / "dashboard"
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
router = APIRouter(tags=["dashboard"], include_in_schema=False)
HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}


@router.get("/dashboard")
def dashboard() -> FileResponse:
    """The dashboard page (``index.html``), never cached, with a same-origin CSP."""
    return FileResponse(ASSETS / "index.html", media_type="text/html", headers=HEADERS)


@router.get("/dashboard/")
def dashboard_slash() -> RedirectResponse:
    """A redirect (307) to ``/dashboard``, the page's one address."""
    return RedirectResponse("/dashboard")


@router.get("/dashboard/{asset}")
def dashboard_asset(asset: str) -> FileResponse:
    """One file of the dashboard folder by name (.html, .js or .css). Raises NotFound (404)
    for any other name, so no path outside the folder is ever served."""
    path = ASSETS / asset
    if asset not in {p.name for p in ASSETS.iterdir()} or path.suffix not in TYPES:
        raise NotFound(f"no dashboard file {asset}")
    return FileResponse(path, media_type=TYPES[path.suffix], headers=HEADERS)
