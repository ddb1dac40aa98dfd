"""The request edge: one database session per request, authentication, body parsing, lists.

Routes use these so they stay a few lines long: parse, call one service function, commit,
serialise. Only this module touches ``flask.g``.
"""
from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from flask import Flask, Request, Response, current_app, g, jsonify, request
from pydantic import BaseModel, ValidationError
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.exceptions import RequestEntityTooLarge

from server import input_rules
from server.db import write_intent
from server.errors import ApiError, invalid
from server.storage import BlobStore

M = TypeVar("M", bound=BaseModel)
MAX_PER_PAGE = 100
#: the last page a list may be asked for: beyond it the offset no longer fits the databases' integers
MAX_PAGE = 1_000_000
#: where documents point when COSMOLOC_BASE_URL is unset (``cosmoloc serve`` sets it from --host/--port)
DEFAULT_BASE_URL = "http://127.0.0.1:5000"
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


class EdgeRequest(Request):
    """Flask's request, refusing U+0000 in form fields and upload names as soon as the form is read, and a
    body that is not a form (JSON) longer than ``body_limit`` bytes (a 413, whether chunked or not)."""

    #: set by the edge for bodies that are not forms; the stream is cut one byte past it
    body_limit: int | None = None

    def get_data(self, cache: bool = True, as_text: bool = False,  # type: ignore[override]
                 parse_form_data: bool = False) -> Any:
        data = super().get_data(cache=cache, as_text=False, parse_form_data=parse_form_data)
        if self.body_limit is not None and len(data) > self.body_limit:
            # werkzeug stops a chunked body at the stream's limit without a word: one byte more means too large
            raise RequestEntityTooLarge()
        return data.decode(errors="replace") if as_text else data

    def _load_form_data(self) -> None:
        super()._load_form_data()
        input_rules.check_form(self.form, self.files)


def db() -> Session:
    """The session of this request (created on first use, closed at teardown)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["cosmoloc.db"].sessionmaker()
    session: Session = g.db_session
    return session


def init_app(app: Flask) -> None:
    """Install the edge: bounded bodies and ids, strict JSON, the session per request, security headers.

    Call before any blueprint is registered: the ``int`` converter of their routes is replaced here.
    """
    app.request_class = EdgeRequest
    app.json = input_rules.EdgeJSONProvider(app)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.url_map.converters["int"] = input_rules.DatabaseIdConverter

    @app.before_request
    def _bound_input() -> None:
        if request.mimetype not in FORM_TYPES:
            # any body that is not a form (JSON above all) is bounded before a byte is parsed: a larger
            # Content-Length is a 413 at once, a chunked body is read no further than the limit
            limit = app.config["COSMOLOC"].limit_int("json_body_bytes")
            assert isinstance(request, EdgeRequest)
            request.body_limit = limit
            request.max_content_length = limit + 1
        input_rules.check_query_and_path(request.path, request.args)

    @app.before_request
    def _intent() -> None:
        if request.method in ("GET", "HEAD"):
            g.write_intent_token = write_intent.set(False)

    @app.teardown_request
    def _intent_done(exc: BaseException | None) -> None:
        token = g.pop("write_intent_token", None)
        if token is not None:
            write_intent.reset(token)

    @app.after_request
    def _after(response: Any) -> Any:
        security_headers(response)
        if "db_session" in g:
            # End the transaction before the body is sent: a long download must not hold
            # SQLite's write lock (or a PostgreSQL snapshot) while it streams.
            g.db_session.rollback()
        return response

    @app.teardown_appcontext
    def _close(exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        token = header[7:].strip()
        return token or None
    return None


def current_account(required: bool = True) -> Any:
    """The account acting on this request: a personal bearer token, or the web session."""
    if "account" not in g:
        from server.accounts import service, sessions

        token = bearer_token()
        account = None
        if token is not None:
            account = service.account_for_token(db(), token)
            if account is None:
                raise ApiError(401, "invalid_token", "The bearer token is not valid or was revoked.")
        elif not request.path.startswith("/api/") or request.method in ("GET", "HEAD", "OPTIONS"):
            # The API's writes take bearer tokens only: a browser's session cookie may read through the API
            # (the pages poll it) but never change anything there, since the API has no CSRF token.
            session_id = _web_session_id()
            if session_id is not None:
                account = sessions.account_for(db(), session_id)
        g.account = account
    if required and g.account is None:
        raise ApiError(401, "authentication_required", "Sign in or send a personal token: Authorization: Bearer <token>.")
    return g.account


def _web_session_id() -> str | None:
    """The id of the hub-side web session this browser's (signed) cookie names, if any."""
    from flask import session as web_session

    value = web_session.get("sid")
    return value if isinstance(value, str) and value else None


def json_body(model: type[M]) -> M:
    """Parse the JSON body into ``model``; 422 with per-field errors when it does not fit."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise invalid("The body must be a JSON object.", code="invalid_body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, Any] = {}
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "body"
            errors.setdefault(field, []).append(err["msg"])
        raise invalid("Some fields are missing or invalid.", errors) from None


def page_args() -> tuple[int, int]:
    try:
        page = int(request.args.get("page", 1))
        per_page = int(request.args.get("per_page", 20))
    except ValueError:
        raise invalid("page and per_page must be integers.", code="invalid_query") from None
    if not 1 <= page <= MAX_PAGE or not 1 <= per_page <= MAX_PER_PAGE:
        raise invalid(f"page must be between 1 and {MAX_PAGE} and per_page between 1 and {MAX_PER_PAGE}.",
                      code="invalid_query")
    return page, per_page


def page_number(raw: str | None) -> int:
    """A web page's ``?page=``: 1 when absent or unreadable, clamped to ``1..MAX_PAGE`` (pages never refuse)."""
    try:
        return min(max(1, int(raw or 1)), MAX_PAGE)
    except ValueError:
        return 1


def paginate(session: Session, query: Select[Any], page: int, per_page: int) -> tuple[list[Any], int]:
    """Run ``query`` for one page; return the rows and the total count."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = list(session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    return rows, total


def list_response(items: list[Any], page: int, per_page: int, total: int) -> Any:
    return jsonify({"items": items, "page": page, "per_page": per_page, "total": total})


def idempotent(scope_name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Honour ``Idempotency-Key`` on a creating POST.

    The wrapped view returns ``(body, status)`` and must not commit: this decorator stores the
    answer and commits once, so the record and what was created land together.
    """

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from server import idempotency

            key = request.headers.get("Idempotency-Key")
            if key is not None and not 1 <= len(key) <= 255:
                raise invalid("Idempotency-Key must be 1 to 255 characters.", code="invalid_idempotency_key")
            scope = request_hash = ""
            if key:
                account = current_account(required=False)
                # Anonymous keys are not honoured: people behind one address would get each other's answers.
                key = key if account is not None else None
            if key:
                scope = f"{scope_name}:{account.id}"
                request_hash = idempotency.fingerprint(request)
                found = idempotency.find(db(), scope, key)
                if found is not None:
                    return _replay(found, request_hash)
            body, status = view(*args, **kwargs)
            try:
                if key:  # inside the try: storing the record may flush, and a concurrent twin may have won
                    idempotency.remember(db(), scope, key, status, body, request_hash)
                db().commit()
            except IntegrityError:
                # A concurrent request with the same key won: answer what it answered.
                db().rollback()
                request.on_commit = None  # type: ignore[attr-defined]  # what this request made is gone
                found = idempotency.find(db(), scope, key) if key else None
                if found is None:
                    raise
                return _replay(found, request_hash)
            return jsonify(body), status

        return wrapper

    return decorate


def _replay(found: Any, request_hash: str) -> Any:
    """The stored answer to a key seen before; 422 when that key was used for another request."""
    if found.request_hash not in (None, request_hash):
        raise invalid("This Idempotency-Key was used for another request; use a new key.",
                      code="idempotency_key_reused")
    return jsonify(found.body), found.status


def file_store() -> BlobStore:
    """The hub's file store. A failed request leaves what it stored: a concurrent request may have stored the
    same bytes and be about to point at them; the periodic sweep collects files nothing points at."""
    return current_app.extensions["cosmoloc.store"]  # type: ignore[no-any-return]


def send_blob(sha256: str, mimetype: str, filename: str | None = None) -> Response:
    etag = f'"{sha256}"'
    if request.headers.get("If-None-Match") in (etag, sha256):
        return Response(status=304, headers={"ETag": etag})
    store = current_app.extensions["cosmoloc.store"]
    response = Response(store.iter_chunks(sha256), mimetype=mimetype)
    response.headers["ETag"] = etag
    response.headers["Content-Length"] = str(store.path(sha256).stat().st_size)
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    if filename:
        response.headers["Content-Disposition"] = content_disposition(filename)
    return response


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """RFC 6266: an ASCII ``filename`` for old clients and the exact name as ``filename*=UTF-8''...``.

    ``filename`` may hold any Unicode (Cyrillic, Chinese, emoji); a header is Latin-1, so the name is
    never put into it raw. Control characters, quotes and backslashes never reach the ASCII fallback.
    """
    name = input_rules.clean_filename(filename) or "download"
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    ascii_name = "".join(c if c.isalnum() or c in "._-+ ()" else "_" for c in ascii_name).strip(" .") or "download"
    if "." in name and "." not in ascii_name:
        ascii_name += "." + "".join(c for c in name.rsplit(".", 1)[1] if c.isascii() and c.isalnum())
    header = f'{disposition}; filename="{ascii_name}"'
    if ascii_name != name:
        header += f"; filename*=UTF-8''{quote(name, safe='')}"
    return header


def public_base_url() -> str:
    """The hub's own address for documents (OKH, OKW, agent configs): COSMOLOC_BASE_URL, never the Host header.

    A request's Host is the caller's to choose; a document built from it would point a reader (or a
    lab's agent) wherever the caller likes.
    """
    return str(current_app.config["COSMOLOC"].base_url).rstrip("/") or DEFAULT_BASE_URL


def _tile_source() -> str:
    """The origin of the map tiles (COSMOLOC_TILE_URL), as a CSP source; '{s}' subdomains become a wildcard."""
    parts = urlsplit(str(current_app.config["COSMOLOC"].tile_url))
    if not parts.scheme or not parts.netloc:
        return ""
    host = parts.netloc.replace("{s}", "*")
    if "{" in host:
        return ""
    return f"{parts.scheme}://{host}"


#: pages: scripts, styles, fonts, forms and fetches from the hub itself only (no inline script or style),
#: images also from the map's tile server; nobody may frame a page (clickjacking)
PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: {tiles}; "
               "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
               "frame-ancestors 'none'")
#: everything else (JSON, downloads, files): nothing runs, even when a browser is tricked into rendering it
DOCUMENT_POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"


def security_headers(response: Response) -> Response:
    """Set the headers every answer carries: CSP, nosniff, no framing, a referrer kept to this origin."""
    if response.mimetype == "text/html":
        policy = PAGE_POLICY.format(tiles=_tile_source()).replace("  ", " ")
    else:
        policy = DOCUMENT_POLICY
    response.headers.setdefault("Content-Security-Policy", policy)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    return response
