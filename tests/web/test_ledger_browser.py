"""In a real browser: a citizen confirms receipt of a part made at an agreed price, and its designer sees what the
design earned, and the receipt along the lineage."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.test_browser import PASSWORD, person, serve_hub, shot, sync_api
from tests.web.test_browser import browser as browser  # noqa: F401  (the module's browser fixture)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    with serve_hub(tmp_path_factory.mktemp("ledger-hub"), eager_tasks=True) as served:
        yield served


def sign_in(page: Any, hub_url: str, email: str) -> None:
    page.goto(f"{hub_url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{hub_url}/")


def test_a_citizen_confirms_and_the_designer_sees_the_earning(browser: Any, hub: tuple[str, Any]) -> None:  # noqa: F811
    from server.designs.models import Design
    from server.fablabs.models import Fablab
    from server.ledger import receipts
    from tests.conftest import ApiUser
    from tests.server.orderflow import BARCELONA, Lab, order
    from tests.server.test_designs import cube_stl, publish

    url, app = hub
    api = app.test_client()
    alice, bob = ApiUser(api, "Alice"), ApiUser(api, "Bob")
    original = publish(alice, [("cube.stl", cube_stl())], title="Kettle lid").get_json()
    remix = publish(bob, [("cube.stl", cube_stl(22))], title="Kettle lid, wider", derived_from=str(original["id"])).get_json()
    lab = Lab(api, ApiUser(api, "Operator"), "Ateneu Fablab", *BARCELONA)
    citizen = ApiUser(api, "Citizen")
    placed = order(citizen, remix).get_json()
    job = lab.jobs("offered")[0]
    assert lab.post(job["id"], "accept", machine_key="p1").status_code == 200
    db = app.extensions["cosmoloc.db"]
    with db.session() as s:  # the price the lab agreed (the quotes work writes this when a lab accepts)
        receipts.quote_agreed(s, placed["id"], s.get(Design, remix["id"]), s.get(Fablab, lab.id), 6000, "EUR")
    assert lab.post(job["id"], "complete").status_code == 200

    expect = sync_api.expect
    page = person(browser, url)
    sign_in(page, url, citizen.email)
    page.goto(f"{url}/orders/{placed['id']}")
    page.get_by_role("button", name="I received it").click()
    expect(page.locator(".big-status")).to_contain_text("Received")
    page.reload()
    page.get_by_role("link", name="Where the contribution went").click()
    expect(page.get_by_test_id("contribution")).to_have_text("€3.00")

    designer = person(browser, url)
    sign_in(designer, url, alice.email)
    designer.goto(f"{url}/ledger/earnings")
    expect(designer.get_by_test_id("total-EUR")).to_have_text("€1.50")  # 5 % of 60.00 EUR, half passed up to Alice
    shot(designer, "ledger-earnings")
    designer.get_by_role("link", name=f"#{placed['id']}").click()
    expect(designer.get_by_test_id("contribution")).to_have_text("€3.00")
    expect(designer.get_by_test_id("receipt")).to_contain_text("Bob")
    expect(designer.locator(".lineage").first).to_contain_text("€1.50")
    shot(designer, "ledger-receipt")
    designer.goto(f"{url}/ledger")
    expect(designer.get_by_test_id("ledger-head")).to_have_text(api.get("/api/v1/ledger/events").get_json()["head"])
    shot(designer, "ledger")
