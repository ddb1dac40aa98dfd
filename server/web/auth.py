"""Sign up, sign in, sign out, and personal API tokens (accounts service)."""
from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, session, url_for

from server.accounts import service
from server.edge import db
from server.errors import ApiError
from server.ratelimits import signin_limits, signup_limit
from server.web.site import bp, form_page, safe_next, secret_page, sign_in_required, signed_in


def _start_session(account: Any) -> None:
    session.clear()  # a fresh session on sign-in: nothing carried over from before
    session["account_id"] = account.id


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
        db().commit()
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
    db().commit()  # a password hash may have been upgraded
    _start_session(account)
    return redirect(safe_next(form.get("next")), code=303)


@bp.post("/logout")
def logout() -> Any:
    session.clear()
    return redirect(url_for("web.home"), code=303)


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
