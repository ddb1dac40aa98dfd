"""Web pages: the account's notification settings, the address confirmation link, a lab's webhooks."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from server.accounts.models import Account
from server.db import utcnow
from server.edge import db
from server.errors import ApiError
from server.fablabs import service as fablabs
from server.notify import service, tokens
from server.notify.models import LAB_EVENTS
from server.web.site import secret_page, sign_in_required, signed_in

bp = Blueprint("notify_pages", __name__)


def _notify() -> Any:
    return current_app.extensions["cosmoloc.notify"]


@bp.route("/settings/notifications", methods=["GET", "POST"])
@sign_in_required
def settings() -> Any:
    account = signed_in()
    notice = ""
    if request.method == "POST":
        if request.form.get("action") == "confirm":
            queued = service.ask_confirmation(db(), account.id, account.email, utcnow())
            notice = ("A confirmation link is on its way." if queued
                      else "A link was sent less than an hour ago; look for it in your mail.")
        else:
            chosen = set(request.form.getlist("kind"))
            service.set_prefs(db(), account.id, request.form.get("email_on") == "on",
                              {k.value: k.value in chosen for k in service.CHOOSABLE})
            notice = "Saved."
        db().commit()
    prefs = service.prefs_json(service.prefs_of(db(), account.id), account.email, _notify().email_on)
    db().rollback()
    return render_template("notify/settings.html", prefs=prefs, notice=notice, email=account.email)


@bp.get("/notifications/confirm/<token>")
def confirm(token: str) -> Any:
    found = tokens.read_confirm(current_app.config["SECRET_KEY"], token)
    ok = False
    if found is not None:
        account_id, email = found
        ok = service.confirm(db(), db().get(Account, account_id), email, utcnow())
        db().commit()
    return render_template("notify/confirmed.html", ok=ok), (200 if ok else 400)


@bp.get("/notifications/unsubscribe/<token>")
def unsubscribe_page(token: str) -> Any:
    """For a person who follows the link: a button that sends the one-click POST."""
    if tokens.read_unsubscribe(current_app.config["SECRET_KEY"], token) is None:
        abort(404)
    return render_template("notify/unsubscribe.html", token=token)


@bp.route("/dashboard/labs/<int:lab_id>/webhooks", methods=["GET", "POST"])
@sign_in_required
def lab_webhooks(lab_id: int) -> Any:
    lab = fablabs.get_lab(db(), lab_id)
    fablabs.require_operator(lab, signed_in())
    error, new = "", None
    if request.method == "POST":
        try:
            remove = request.form.get("remove")
            if remove is not None:
                if not remove.isdigit():
                    raise ApiError(404, "not_found", "There is no such webhook.")
                service.remove_endpoint(db(), lab_id, int(remove))
            else:
                db().rollback()  # the URL's host is resolved next: no transaction held open through it
                new = service.add_endpoint(db(), lab_id, request.form.get("url", ""), request.form.getlist("event"),
                                           _notify().allow_private_webhooks, utcnow())
            db().commit()
        except ApiError as exc:
            db().rollback()
            error = exc.detail
        if not error and new is None:
            return redirect(url_for("notify_pages.lab_webhooks", lab_id=lab_id))
    return secret_page("notify/webhooks.html", lab=lab, error=error,
                       new=service.endpoint_json(new, with_secret=True) if new else None,
                       endpoints=[service.endpoint_json(e) for e in service.endpoints_of(db(), lab.id)],
                       deliveries=service.delivery_log(db(), lab.id), events=LAB_EVENTS)
