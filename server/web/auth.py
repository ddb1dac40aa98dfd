"""Sign up, sign in, sign out, change the password, and personal API tokens (accounts service).

A signed-in browser holds a hub-side session (``server.accounts.sessions``) named in its signed
cookie; signing out ends it, changing the password ends every session of the account.
"""
from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, session, url_for

from server.accounts import service, sessions
from server.edge import db
from server.errors import ApiError
from server.ratelimits import password_change_limit, signin_limits, signup_limit
from server.web.site import bp, form_page, safe_next, secret_page, settings, sign_in_required, signed_in


def _start_session(account: Any) -> None:
    """Open a hub-side session for the account and commit it with what the request did."""
    session_id = sessions.start(db(), account.id, settings().limit_int("session_max_age_s"))
    db().commit()
    session.clear()  # a fresh session on sign-in: nothing carried over from before
    session.permanent = True  # the cookie lasts as long as the hub-side session
    session["sid"] = session_id


@bp.route("/signup", methods=["GET", "POST"])
@signup_limit
def signup() -> Any:
    if request.method == "GET":
        return render_template("auth/signup.html", form={}, next=request.args.get("next", ""))
    form = request.form
    name, email, password = form.get("name", "").strip(), form.get("email", "").strip(), form.get("password", "")
    if not name or "@" not in email:
        return form_page("auth/signup.html", "Give your name and a valid email address.", next=form.get("next", ""))
    try:
        account = service.create_account(db(), email, password, name)
    except ApiError as exc:
        return form_page("auth/signup.html", exc, next=form.get("next", ""))
    _start_session(account)
    return redirect(safe_next(form.get("next")), code=303)


@bp.route("/login", methods=["GET", "POST"])
@signin_limits
def login() -> Any:
    if request.method == "GET":
        return render_template("auth/login.html", form={}, next=request.args.get("next", ""))
    form = request.form
    account = service.authenticate(db(), form.get("email", ""), form.get("password", ""))
    if account is None:
        return form_page("auth/login.html", "The email or password is wrong.", status=401, next=form.get("next", ""))
    _start_session(account)  # commits a password hash that may have been upgraded too
    return redirect(safe_next(form.get("next")), code=303)


@bp.post("/logout")
def logout() -> Any:
    if isinstance(session.get("sid"), str):
        sessions.end(db(), session["sid"])  # a copy of the cookie stops working too
        db().commit()
    session.clear()
    return redirect(url_for("web.home"), code=303)


@bp.route("/account", methods=["GET", "POST"])
@password_change_limit
@sign_in_required
def account_settings() -> Any:
    """The account page: change the password (signing out every other browser)."""
    me = signed_in()
    if request.method == "GET":
        return render_template("auth/password.html", form={}, changed=None)
    form = request.form
    try:
        changed = service.change_password(db(), me, form.get("current_password", ""), form.get("new_password", ""),
                                          revoke_tokens=form.get("revoke_tokens") == "1")
    except ApiError as exc:
        return form_page("auth/password.html", exc, changed=None)
    _start_session(me)  # this browser stays signed in, on a new session
    return secret_page("auth/password.html", form={}, changed=changed)


@bp.route("/tokens", methods=["GET", "POST"])
@sign_in_required
def tokens() -> Any:
    me = signed_in()
    new_token = None
    if request.method == "POST":
        _row, new_token = service.issue_token(db(), me, request.form.get("name", "").strip() or "web")
        db().commit()
    return secret_page("auth/tokens.html", tokens=service.list_tokens(db(), me), new_token=new_token)


@bp.post("/tokens/<int:token_id>/revoke")
@sign_in_required
def revoke_token(token_id: int) -> Any:
    service.revoke_token(db(), signed_in(), token_id)
    db().commit()
    return redirect(url_for("web.tokens"), code=303)
