"""The web page at /ui (and / leading there), its static files, and /docs and /redoc served offline."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

# Package data (pyproject's [tool.setuptools.package-data]), found next to the code: no import of
# service.ui, so the import-linter layers stay as they are.
STATIC_DIR = Path(__file__).resolve().parent.parent / "ui" / "static"
STATIC_URL = "/ui/static"
VENDOR_URL = f"{STATIC_URL}/vendor"
# Everything the page loads comes from this origin: the header makes the browser refuse anything else.
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)

# The docs pages need their inline script and the viewers' inline styles; anything from another origin
# is still refused. ReDoc's sidebar badge loads its logo from cdn.redoc.ly: refused here, the badge
# shows its text alone (as it does offline), and no request leaves the machine.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


def _root(request: Request) -> str:
    """The prefix a proxy mounts the app under (ASGI root_path), so the links work behind it too."""
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get("/")
def get_root(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{_root(request)}/ui", status_code=307)


@router.get("/ui")
def get_ui() -> FileResponse:
    # The page names its files relative to /ui, so it needs no root_path of its own.
    headers = {"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-cache"}
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=headers)


@router.get("/docs")
def get_docs(request: Request) -> HTMLResponse:
    root = _root(request)
    page = get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}{VENDOR_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{VENDOR_URL}/swagger-ui.css",
        swagger_favicon_url=f"{root}{STATIC_URL}/favicon.svg",
        # The default validator badge asks validator.swagger.io about the document: off, offline.
        swagger_ui_parameters={"validatorUrl": None},
    )
    page.headers["Content-Security-Policy"] = DOCS_POLICY
    return page


@router.get("/redoc")
def get_redoc(request: Request) -> HTMLResponse:
    root = _root(request)
    page = get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}{VENDOR_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{STATIC_URL}/favicon.svg",
        with_google_fonts=False,  # fonts.googleapis.com: the page falls back to local fonts
    )
    page.headers["Content-Security-Policy"] = DOCS_POLICY
    return page


def install_ui(app: FastAPI) -> None:
    """Add the page, its static files and the docs pages; create the app with docs_url=None and
    redoc_url=None, so that FastAPI's own CDN-loading pages are not there as well."""
    app.include_router(router)
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="ui-static")
