"""The request edge: one database session per request, authentication, body parsing, lists.

Routes use these so they stay a few lines long: parse, call one service function, commit,
serialise. Only this module touches ``flask.g``.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import IO, Any, TypeVar

from flask import Flask, Response, current_app, g, jsonify, request
from pydantic import BaseModel, ValidationError
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.db import write_intent
from server.errors import ApiError, invalid
from server.storage import BlobStore

M = TypeVar("M", bound=BaseModel)
MAX_PER_PAGE = 100


def db() -> Session:
    """The session of this request (created on first use, closed at teardown)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["cosmoloc.db"].sessionmaker()
    session: Session = g.db_session
    return session


def init_app(app: Flask) -> None:
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
        if response.status_code >= 400:
            discard_new_blobs()
        if "db_session" in g:
            # End the transaction before the body is sent: a long download must not hold
            # SQLite's write lock (or a PostgreSQL snapshot) while it streams.
            g.db_session.rollback()
        return response

    @app.teardown_appcontext
    def _close(exc: BaseException | None) -> None:
        if exc is not None:
            discard_new_blobs()
        session = g.pop("db_session", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()


def track_new_blob(sha256: str) -> None:
    """Remember a file this request wrote to the store (for logs and tests; nothing removes it)."""
    g.setdefault("new_blobs", []).append(sha256)


def discard_new_blobs() -> None:
    """Forget the files a failed request wrote; never remove them.

    A concurrent request may have stored the same bytes and be about to commit a row pointing at
    them, so removing them here would lose its file. Files nothing points at are collected by the
    periodic sweep (``server.designs.blobs.sweep_orphans``) once they are old enough.
    """
    g.pop("new_blobs", None)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        token = header[7:].strip()
        return token or None
    return None


def current_account(required: bool = True) -> Any:
    """The account acting on this request: a personal bearer token, or the web session."""
    if "account" not in g:
        from server.accounts import service

        token = bearer_token()
        account = None
        if token is not None:
            account = service.account_for_token(db(), token)
            if account is None:
                raise ApiError(401, "invalid_token", "The bearer token is not valid or was revoked.")
        elif not request.path.startswith("/api/") or request.method in ("GET", "HEAD", "OPTIONS"):
            # The API's writes take bearer tokens only: a browser's session cookie may read through the API
            # (the pages poll it) but never change anything there, since the API has no CSRF token.
            account_id = _session_account_id()
            if account_id is not None:
                account = service.get_account(db(), account_id)
        g.account = account
    if required and g.account is None:
        raise ApiError(401, "authentication_required", "Sign in or send a personal token: Authorization: Bearer <token>.")
    return g.account


def _session_account_id() -> int | None:
    from flask import session as web_session

    value = web_session.get("account_id")
    return int(value) if isinstance(value, int) else None


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
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise invalid(f"page must be >= 1 and per_page between 1 and {MAX_PER_PAGE}.", code="invalid_query")
    return page, per_page


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
            scope = ""
            if key:
                account = current_account(required=False)
                scope = f"{scope_name}:{account.id if account else request.remote_addr}"
                found = idempotency.find(db(), scope, key)
                if found is not None:
                    return jsonify(found.body), found.status
            body, status = view(*args, **kwargs)
            if key:
                idempotency.remember(db(), scope, key, status, body)
            try:
                db().commit()
            except IntegrityError:
                # A concurrent request with the same key won: answer what it answered.
                db().rollback()
                found = idempotency.find(db(), scope, key) if key else None
                if found is None:
                    raise
                discard_new_blobs()
                return jsonify(found.body), found.status
            return jsonify(body), status

        return wrapper

    return decorate


class TrackedStore(BlobStore):
    """The hub's file store (the same folder), remembering each new file so a failed request removes it again."""

    def __init__(self, store: BlobStore) -> None:
        super().__init__(store.root)

    def put_bytes(self, data: bytes) -> tuple[str, bool]:
        sha, created = super().put_bytes(data)
        if created:
            track_new_blob(sha)
        return sha, created

    def put_stream(self, stream: IO[bytes]) -> tuple[str, int, bool]:
        sha, size, created = super().put_stream(stream)
        if created:
            track_new_blob(sha)
        return sha, size, created


def tracked_store() -> TrackedStore:
    return TrackedStore(current_app.extensions["cosmoloc.store"])


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
        safe = filename.replace('"', "")
        response.headers["Content-Disposition"] = f'attachment; filename="{safe}"'
    return response
