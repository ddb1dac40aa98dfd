"""The web pages through Flask's test client, as a browser without JavaScript would use them."""
from __future__ import annotations

import datetime as dt
import io
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from fablab_nodes.config import parse_config
from fablab_nodes.drivers import driver_names
from server.db import utcnow
from server.fablabs.models import Fablab
from tests.server.orderflow import BARCELONA, cube_stl
from tests.web.webclient import PASSWORD, WebUser, alert_text


def publish(user: WebUser, files: list[tuple[str, bytes]], **form: Any) -> Any:
    data = {"title": "Cube", "license": "CERN-OHL-S-2.0", "unit": "mm", "tags": "test",
            "files": [(io.BytesIO(content), name) for name, content in files], **form}
    return user.submit("/designs/new", data, content_type="multipart/form-data")


def register_lab(user: WebUser, **form: Any) -> Any:
    data = {"name": "Ateneu Fablab", "kind": "fablab", "latitude": str(BARCELONA[0]), "longitude": str(BARCELONA[1]),
            "accepting_orders": "on", "machine-0-key": "mk4-1", "machine-0-name": "Prusa MK4", "machine-0-process": "fdm",
            "machine-0-x": "250", "machine-0-y": "210", "machine-0-z": "220", "machine-0-materials": "PLA, PETG",
            "machine-1-key": "", "machine-1-name": "", **form}
    return user.submit("/fablabs/new", data)


def test_pages_answer_for_visitors(app: Any) -> None:
    visitor = WebUser(app, sign_up=False)
    for path in ("/", "/designs", "/fablabs", "/signup", "/login"):
        r = visitor.get(path)
        assert r.status_code == 200 and "text/html" in r.content_type, path
    r = visitor.get("/dashboard")
    assert r.status_code == 302 and "/login?next=/dashboard" in r.headers["Location"]


def test_sign_up_sign_in_and_out(app: Any) -> None:
    ana = WebUser(app, "Ana")
    cookie = ana.client.get_cookie("session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax" and not cookie.secure
    assert "Sign out" in ana.get("/").text
    ana.submit("/logout", {})
    assert "Sign out" not in ana.get("/").text
    r = ana.submit("/login", {"email": ana.email, "password": "wrong password"})
    assert r.status_code == 401 and alert_text(r.text).endswith("The email or password is wrong.")
    r = ana.submit("/login", {"email": ana.email, "password": PASSWORD, "next": "https://evil.example/"})
    assert r.status_code == 303 and r.headers["Location"] == "/"
    again = WebUser(app, sign_up=False)
    r = again.submit("/signup", {"name": "Other", "email": ana.email, "password": PASSWORD})
    assert r.status_code == 409 and "already exists" in alert_text(r.text)
    r = again.submit("/signup", {"name": "Other", "email": "short@example.org", "password": "short"})
    assert r.status_code == 422 and "at least 8 characters" in alert_text(r.text)


def test_session_cookie_is_secure_over_https(app: Any) -> None:
    client = app.test_client()
    page = client.get("/signup", base_url="https://hub.example")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/signup", base_url="https://hub.example", headers={"Referer": "https://hub.example/signup"},
                data={"csrf_token": token, "name": "S", "email": "s@example.org", "password": PASSWORD})
    cookie = client.get_cookie("session", domain="hub.example")
    assert cookie is not None and cookie.secure and cookie.http_only


def test_forms_without_csrf_token_are_refused_in_plain_words(app: Any) -> None:
    ana = WebUser(app, "Ana")
    r = ana.client.post("/designs/new", data={"title": "x", "license": "MIT"})
    assert r.status_code == 400
    assert "This form has expired or did not come from this site" in r.text and "Traceback" not in r.text
    r = ana.client.post("/tokens", data={"csrf_token": "forged"})
    assert r.status_code == 400
    # the JSON API authenticates with bearer tokens and takes no CSRF token
    r = ana.client.post("/api/v1/accounts", json={"email": "api@example.org", "password": PASSWORD, "name": "Api"})
    assert r.status_code == 201


def test_publish_shows_report_and_thumbnail(app: Any) -> None:
    designer = WebUser(app, "Dee")
    r = publish(designer, [("cube.stl", cube_stl())], description="A test cube")
    assert r.status_code == 303
    page = designer.get(r.headers["Location"]).text
    assert "Cube" in page and "Passed" in page and "thumbnail.png" in page
    assert "Open Know-How manifest" in page and "CERN Open Hardware Licence" in page
    assert "3D printing (FDM)" in page and "20.0 × 20.0 × 20.0 mm" in page
    gallery = designer.get("/designs?q=cube").text
    assert "Cube" in gallery and "thumbnail.png" in gallery


def test_bad_files_and_refused_licences_are_explained(app: Any) -> None:
    designer = WebUser(app, "Dee")
    r = publish(designer, [("cube.stl", cube_stl())], license="CC-BY-NC-4.0")
    assert r.status_code == 422 and "forbids commercial use" in alert_text(r.text)
    assert 'value="Cube"' in r.text  # what was typed is kept
    r = publish(designer, [])
    assert r.status_code == 422 and alert_text(r.text).endswith("Attach at least one file.")
    r = publish(designer, [("cube.stl", cube_stl())], unit="furlong")
    assert r.status_code == 422 and "unit must be one of" in alert_text(r.text)
    r = publish(designer, [("broken.stl", b"solid nothing\nthis is not a mesh\n")], title="Broken")
    assert r.status_code == 303  # kept with its report, so the designer sees what to fix
    page = designer.get(r.headers["Location"]).text
    assert "Failed: cannot be made yet" in page and "Must fix" in page


def test_new_version_only_by_its_designer(app: Any) -> None:
    designer = WebUser(app, "Dee")
    location = publish(designer, [("cube.stl", cube_stl())]).headers["Location"]
    design_id = int(location.rsplit("/", 1)[1])
    r = designer.submit(f"/designs/{design_id}/versions", {"changelog": "bigger", "unit": "mm",
                                                            "files": [(io.BytesIO(cube_stl(30)), "cube.stl")]},
                        content_type="multipart/form-data")
    assert r.status_code == 303
    assert "Files of version 2" in designer.get(location).text
    other = WebUser(app, "Other")
    assert "Add a new version" not in other.get(location).text
    r = other.submit(f"/designs/{design_id}/versions", {"files": [(io.BytesIO(cube_stl()), "c.stl")]},
                     content_type="multipart/form-data")
    assert r.status_code == 403 and "Only the designer" in r.text


def _heartbeat(app: Any, token: str, state: str = "idle") -> None:
    r = app.test_client().post("/api/v1/node/heartbeat", headers={"Authorization": f"Bearer {token}"},
                               json={"agent": "test/1", "machines": [{"key": "mk4-1", "state": state}]})
    assert r.status_code == 200, r.get_json()


def test_order_from_the_design_page_to_received(app: Any) -> None:
    designer, operator, citizen = WebUser(app, "Dee"), WebUser(app, "Op"), WebUser(app, "Cit")
    design_url = publish(designer, [("cube.stl", cube_stl())]).headers["Location"]
    design_id = int(design_url.rsplit("/", 1)[1])
    r = register_lab(operator)
    assert r.status_code == 200
    token = re.search(r'value="(cln_[^"]+)"', r.text).group(1)
    lab_id = int(re.search(r"/dashboard/labs/(\d+)/agent.toml", r.text).group(1))
    toml = operator.get(f"/dashboard/labs/{lab_id}/agent.toml").text
    assert token not in toml
    config = parse_config(tomllib.loads(toml), base_dir=Path("."), env={"COSMOLOC_NODE_TOKEN": token},
                          known_drivers=driver_names())  # the agent takes the file as it is
    assert [m.key for m in config.machines] == ["mk4-1"] and config.machines[0].materials == ("PLA", "PETG")
    _heartbeat(app, token)

    order_form = {"material": "PLA", "quantity": "2", "address": "Barcelona, Spain", "max_distance_km": "50"}
    r = citizen.submit(f"/designs/{design_id}/labs", {**order_form, "address": "Nowhereville, Atlantis"})
    assert "Could not place" in r.text
    r = citizen.submit(f"/designs/{design_id}/labs", order_form)
    assert "Labs that could make it" in r.text and "Ateneu Fablab" in r.text and "asked first" in r.text
    r = citizen.submit(f"/designs/{design_id}/order", {**order_form, "address": "Nowhereville, Atlantis"})
    assert r.status_code == 422 and "Could not place 'Nowhereville, Atlantis'" in alert_text(r.text)
    r = citizen.submit(f"/designs/{design_id}/order", {**order_form, "quantity": "many"})
    assert r.status_code == 422 and "Quantity is a whole number" in alert_text(r.text)
    r = citizen.submit(f"/designs/{design_id}/order", order_form)
    assert r.status_code == 303
    order_url = r.headers["Location"]
    assert "Offered to a lab" in citizen.get(order_url).text

    dashboard = operator.get("/dashboard").text
    job_id = int(re.search(rf"/dashboard/labs/{lab_id}/jobs/(\d+)/accept", dashboard).group(1))
    assert "left" in dashboard
    for action, form in (("accept", {}), ("progress", {"percent": "40"}), ("complete", {"note": "ready"})):
        r = operator.submit(f"/dashboard/labs/{lab_id}/jobs/{job_id}/{action}", form)
        assert r.status_code == 303, action
    r = operator.submit(f"/dashboard/labs/{lab_id}/jobs/{job_id}/accept", {})
    assert "no longer offered" in operator.get("/dashboard").text  # a 409 said in plain words, once

    page = citizen.get(order_url).text
    assert "Made: ready for you" in page and "I received it" in page and "Production started" in page
    r = citizen.submit(order_url + "/confirm", {})
    assert r.status_code == 303 and "You confirmed you received it" in citizen.get(order_url).text
    assert "Received" in citizen.get("/orders").text
    # someone else's order is a 404, in the site's style
    r = designer.get(order_url)
    assert r.status_code == 404 and "text/html" in r.content_type


def test_operator_edits_lab_and_rotates_token(app: Any) -> None:
    operator = WebUser(app, "Op")
    r = register_lab(operator)
    first = re.search(r'value="(cln_[^"]+)"', r.text).group(1)
    lab_id = int(re.search(r"/dashboard/labs/(\d+)/agent.toml", r.text).group(1))
    r = operator.submit(f"/dashboard/labs/{lab_id}/edit", {
        "name": "Ateneu", "kind": "fablab", "latitude": str(BARCELONA[0]), "longitude": str(BARCELONA[1]),
        "accepting_orders": "on", "machine-0-key": "mk4-1", "machine-0-name": "Prusa", "machine-0-process": "fdm",
        "machine-0-x": "250", "machine-0-y": "210", "machine-0-z": "220", "machine-0-materials": "PLA",
        "machine-1-key": "laser", "machine-1-name": "Laser", "machine-1-process": "laser_cutting",
        "machine-1-x": "600", "machine-1-y": "400", "machine-1-z": "6", "machine-1-materials": "plywood"})
    assert r.status_code == 303
    lab_page = operator.get(f"/fablabs/{lab_id}").text
    assert "Laser" in lab_page and "600.0 × 400.0 × 6.0 mm" in lab_page and "<svg" in lab_page
    r = operator.submit(f"/dashboard/labs/{lab_id}/edit", {"name": "", "kind": "fablab", "machine-0-key": "bad key!",
                                                           "machine-0-name": "x", "machine-0-process": "fdm"})
    assert r.status_code == 422 and "A machine key is" in alert_text(r.text)
    r = operator.submit(f"/dashboard/labs/{lab_id}/token", {})
    second = re.search(r'value="(cln_[^"]+)"', r.text).group(1)
    assert second != first
    old = app.test_client().post("/api/v1/node/heartbeat", headers={"Authorization": f"Bearer {first}"}, json={})
    assert old.status_code == 401
    stranger = WebUser(app, "Stranger")
    assert stranger.get(f"/dashboard/labs/{lab_id}/edit").status_code == 403


def test_lab_directory_filters_and_unknown_place(app: Any) -> None:
    operator = WebUser(app, "Op")
    register_lab(operator)
    page = operator.get("/fablabs?place=Barcelona%2C+Spain&radius_km=50&process=fdm").text
    assert "Ateneu Fablab" in page and "within 50 km of Barcelona, Spain" in page
    assert "Ateneu Fablab" not in operator.get("/fablabs?place=Lyon%2C+France&radius_km=50").text
    assert "Ateneu Fablab" not in operator.get("/fablabs?process=laser_cutting").text
    r = operator.get("/fablabs?place=Nowhereville%2C+Atlantis")
    assert r.status_code == 422 and "Could not place" in alert_text(r.text)


def test_tokens_page_makes_and_revokes(app: Any) -> None:
    ana = WebUser(app, "Ana")
    r = ana.submit("/tokens", {"name": "script"})
    token = re.search(r'value="(clp_[^"]+)"', r.text).group(1)
    assert app.test_client().get("/api/v1/account", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    token_id = int(re.search(r"/tokens/(\d+)/revoke", r.text).group(1))
    assert ana.submit(f"/tokens/{token_id}/revoke", {}).status_code == 303
    assert app.test_client().get("/api/v1/account", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_error_pages_are_in_the_sites_style(app: Any) -> None:
    def boom() -> Any:
        raise RuntimeError("secret internals")

    app.add_url_rule("/boom-for-test", "boom_for_test", boom)
    client = app.test_client()
    r = client.get("/no/such/page")
    assert r.status_code == 404 and "Page not found" in r.text and 'class="top"' in r.text
    assert client.get("/designs/987654").status_code == 404
    r = client.get("/boom-for-test")
    assert r.status_code == 500 and "Something went wrong on our side" in r.text
    assert "secret internals" not in r.text and "Traceback" not in r.text
    # the API keeps answering problem+json
    r = client.get("/api/v1/designs/987654")
    assert r.status_code == 404 and r.content_type == "application/problem+json"


@pytest.mark.parametrize("path", ["/dashboard", "/orders", "/tokens", "/designs/new", "/fablabs/new"])
def test_signed_in_pages_render(app: Any, path: str) -> None:
    assert WebUser(app, "Ana").get(path).status_code == 200


def test_a_visitor_ordering_is_asked_to_sign_in_and_comes_back(app: Any) -> None:
    designer = WebUser(app, "Dee")
    design_url = publish(designer, [("cube.stl", cube_stl())]).headers["Location"]
    visitor = WebUser(app, sign_up=False)
    assert "Sign in to place the order" in visitor.get(design_url).text
    r = visitor.submit(design_url + "/order", {"material": "PLA", "address": "Barcelona, Spain"},
                       headers={"Referer": f"http://localhost{design_url}"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/login?next={design_url}%23main")


def test_api_writes_ignore_the_session_cookie(client, make_user):
    """Signed in through the web page, a browser can read the API but cannot write through it without a token."""
    user = make_user("reader")
    page = client.get("/login")
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    r = client.post("/login", data={"email": user.email, "password": "correct horse battery", "csrf_token": token})
    assert r.status_code in (302, 303)
    assert client.get("/api/v1/account").status_code == 200
    r = client.post("/api/v1/fablabs", json={"name": "Sneaky", "kind": "fablab", "latitude": 1, "longitude": 1})
    assert r.status_code == 401


def test_a_lab_without_an_agent_reports_its_machines_from_the_dashboard(app: Any) -> None:
    designer, operator, citizen = WebUser(app, "Dee"), WebUser(app, "Op"), WebUser(app, "Cit")
    design_id = int(publish(designer, [("cube.stl", cube_stl())]).headers["Location"].rsplit("/", 1)[1])
    r = register_lab(operator)
    lab_id = int(re.search(r"/dashboard/labs/(\d+)/agent.toml", r.text).group(1))
    order_form = {"material": "PLA", "quantity": "1", "address": "Barcelona, Spain", "max_distance_km": "50"}
    assert "have not reported recently" in citizen.submit(f"/designs/{design_id}/labs", order_form).text
    r = operator.submit(f"/dashboard/labs/{lab_id}/machines", {"state-mk4-1": "exploded"})
    assert "Choose a state" in operator.get("/dashboard").text
    r = operator.submit(f"/dashboard/labs/{lab_id}/machines", {"state-mk4-1": "idle"})
    assert r.status_code == 303 and "counts as online" in operator.get("/dashboard").text
    r = citizen.submit(f"/designs/{design_id}/order", order_form)
    assert r.status_code == 303 and "Offered to a lab" in citizen.get(r.headers["Location"]).text
    assert re.search(rf"/dashboard/labs/{lab_id}/jobs/\d+/accept", operator.get("/dashboard").text)
    # the page says how long the report holds, warns as it runs out, and says so once it has
    hub = app.extensions["cosmoloc.hub"]
    stale = hub.settings.node_stale_after_s

    def reported_ago(seconds: float) -> str:
        with hub.db.session() as s:
            lab = s.get(Fablab, lab_id)
            lab.last_seen_at = utcnow() - dt.timedelta(seconds=seconds)
        return re.search(r'<p class="notice (\w+) lapse"[^>]*>(.*?)</p>', operator.get("/dashboard").text, re.S).groups()

    kind, words = reported_ago(10)
    assert kind == "ok" and f"{(stale - 10) // 60} min left before the lab counts as offline" in words
    kind, words = reported_ago(stale * 0.9)
    assert kind == "warn" and "before the lab counts as offline" in words
    kind, words = reported_ago(stale + 60)
    assert kind == "warn" and words.startswith("Offline: your last report of machine states was")


RATES_FORM = {"currency": "eur", "vat_percent": "21", "minimum": "5.00", "timezone": "Europe/Madrid",
              "hours-mon": "09:00-13:00, 15:00-19:00", "hours-sat": "10:00-14:00", "closed": "2026-12-25",
              "line-0-machine_key": "mk4-1", "line-0-material": "PLA", "line-0-setup": "3.00",
              "line-0-per_gram": "0.005", "line-0-per_hour": "4.00",
              "discount-0-min_quantity": "10", "discount-0-percent": "10"}


def test_operator_publishes_rates_and_the_lab_page_words_them(app: Any) -> None:
    operator, stranger = WebUser(app, "Op"), WebUser(app, "Stranger")
    r = register_lab(operator)
    lab_id = int(re.search(r"/dashboard/labs/(\d+)/agent.toml", r.text).group(1))
    assert "no rates" in operator.get(f"/fablabs/{lab_id}").text.lower()
    assert f"/dashboard/labs/{lab_id}/rates" in operator.get("/dashboard").text
    assert stranger.submit(f"/dashboard/labs/{lab_id}/rates", RATES_FORM).status_code == 403
    bad = operator.submit(f"/dashboard/labs/{lab_id}/rates", {**RATES_FORM, "currency": "EURO"})
    assert bad.status_code == 422 and "currency" in alert_text(bad.text).lower()
    assert 'value="EURO"' in bad.text  # the form comes back as it was typed
    r = operator.submit(f"/dashboard/labs/{lab_id}/rates", RATES_FORM)
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/fablabs/{lab_id}#rates")
    card = operator.client.get(f"/api/v1/fablabs/{lab_id}/rates").get_json()  # the API's card, from the form
    assert card["version"] == 1 and card["currency"] == "EUR" and card["minimum"] == "5.00"
    assert card["lines"] == [{"machine_key": "mk4-1", "material": "PLA", "setup": "3.00", "minimum": "0.00",
                              "per_gram": "0.005", "per_hour": "4.00"}]
    assert card["opening_hours"]["week"] == {"mon": [["09:00", "13:00"], ["15:00", "19:00"]],
                                             "sat": [["10:00", "14:00"]]}
    page = operator.get(f"/fablabs/{lab_id}").text
    assert "Prices in EUR; 21 % VAT added." in page
    assert "Every order costs at least €5.00." in page
    assert "Prusa MK4, PLA: setup €3.00, €0.005 per gram, €4.00 per hour of machine time." in page
    assert "10 % off from 10 pieces." in page
    assert "Open Monday 09:00–13:00, 15:00–19:00; Saturday 10:00–14:00 (Europe/Madrid time)." in page
    assert "Closed on 2026-12-25." in page
    german = operator.get(f"/fablabs/{lab_id}", headers={"Accept-Language": "de-DE,de;q=0.9"}).text
    assert "3,00\xa0€" in german and "0,005\xa0€ per gram" in german  # Babel writes money the reader's way
    edit = operator.get(f"/dashboard/labs/{lab_id}/rates").text  # the form shows the card in force
    assert 'value="0.005"' in edit and "Version 1 is in force" in edit
    r = operator.submit(f"/dashboard/labs/{lab_id}/rates", {**RATES_FORM, "unattended": "on", "line-0-per_gram": "0.01"})
    assert r.status_code == 303
    page = operator.get(f"/fablabs/{lab_id}").text
    assert "version 2" in page and "€0.01 per gram" in page and "run unattended" in page


def test_design_page_compares_quotes_in_a_table_the_citizen_sorts(app: Any) -> None:
    designer, operator, citizen = WebUser(app, "Dee"), WebUser(app, "Op"), WebUser(app, "Cit")
    design_url = publish(designer, [("cube.stl", cube_stl())]).headers["Location"]
    labs = {}
    for name, lat, lon, kind in (("Near lab", 41.3874, 2.1686, "fablab"), ("Far coop", 41.55, 2.10, "cooperative")):
        r = register_lab(operator, name=name, latitude=str(lat), longitude=str(lon), kind=kind)
        labs[name] = int(re.search(r"/dashboard/labs/(\d+)/agent.toml", r.text).group(1))
        _heartbeat(app, re.search(r'value="(cln_[^"]+)"', r.text).group(1))
    # the far lab is cheaper (1.00 EUR setup only); the near one charges the card of RATES_FORM
    operator.submit(f"/dashboard/labs/{labs['Near lab']}/rates", RATES_FORM)
    operator.submit(f"/dashboard/labs/{labs['Far coop']}/rates",
                    {"currency": "EUR", "unattended": "on", "line-0-machine_key": "mk4-1", "line-0-material": "PLA",
                     "line-0-setup": "1.00"})
    page = citizen.get(design_url).text
    assert 'id="quotes-form"' in page and 'id="quotes-table"' not in page  # asks where first

    def table(**args: str) -> list[list[str]]:
        r = citizen.get(design_url, query_string={"material": "PLA", "address": "Barcelona, Spain", **args})
        assert r.status_code == 200
        body = r.text.split('id="quotes-table"', 1)[1].split("</table>", 1)[0]
        return [[re.sub(r"<[^>]+>", " ", cell).split()[0] if cell.strip() else "" for cell in
                 re.findall(r"<td>(.*?)</td>", row, re.S)] for row in re.findall(r"<tr>(<td>.*?)</tr>", body, re.S)]

    by_price = table()
    assert [row[0] for row in by_price] == ["Far", "Near"]
    # 1.00 setup, no VAT; 3.00 + 0.02 + 1.01 = 4.03 lifted to the 5.00 minimum, + 21 % VAT = 6.05
    assert by_price[0][1] == "€1.00" and by_price[1][1] == "€6.05"
    assert [row[0] for row in table(quote_sort="distance")] == ["Near", "Far"]
    assert [row[0] for row in table(quote_sort="kind")] == ["Far", "Near"]  # cooperative before fablab
    assert [row[0] for row in table(quote_sort="co2e")] == ["Near", "Far"]  # the shorter last leg
    r = citizen.get(design_url, query_string={"material": "PLA", "address": "Nowhereville, Atlantis"})
    assert r.status_code == 200 and 'role="alert"' in r.text.split('id="quotes"', 1)[1].split("</section>", 1)[0]
