"""The main flows in a real browser (Debian's chromium driven by Playwright) against a real hub.

A hub runs in a thread on 127.0.0.1 (SQLite, background validation, sweeper on). The browser
may only reach that hub: every other request (map tiles included) is aborted. Screenshots of
the main pages are saved under test-artifacts/screenshots/ (git-ignored).
"""
from __future__ import annotations

import json
import re
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.orderflow import BARCELONA, cube_stl

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]
PASSWORD = "correct horse battery"

if not CHROMIUM.exists():
    pytest.skip("browser tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright (pip install playwright)")


@pytest.fixture(scope="module")
def hub_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from werkzeug.serving import make_server

    from server.app import create_app
    from server.config import Settings
    from server.db import make_engine
    from server.schema import upgrade
    from tests.conftest import ROOMY_LIMITS

    tmp = tmp_path_factory.mktemp("hub")
    url = f"sqlite:///{tmp / 'hub.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    settings = Settings.from_env(data_dir=tmp / "data", database_url=url, sweeper_interval_s=1.0, secret_key="browser-test",
                                 max_upload_mb=20, limits=ROOMY_LIMITS)
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    app.extensions["cosmoloc.hub"].close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


def person(browser: Any, hub_url: str, **options: Any) -> Any:
    """A browser context (one person) that can only reach the hub under test."""
    context = browser.new_context(**options)
    context.set_default_timeout(20_000)

    def only_the_hub(route: Any) -> None:
        if route.request.url.startswith(hub_url):
            route.continue_()
        else:
            route.abort()  # map tiles and anything else off loopback

    context.route("**/*", only_the_hub)
    return context.new_page()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_up(page: Any, hub_url: str, name: str) -> None:
    page.goto(f"{hub_url}/signup")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email").fill(f"{name.lower()}@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(f"{hub_url}/")
    assert page.get_by_role("button", name="Sign out").is_visible()


def api(hub_url: str, path: str, body: dict[str, Any], token: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{hub_url}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return dict(json.loads(answer.read()))


def publish_cube(page: Any, hub_url: str, tmp_path: Path, title: str,
                 fill_more: Callable[[], None] | None = None) -> str:
    """Publish a 20 mm cube under CERN-OHL-S-2.0 in the browser (``fill_more`` fills the rest of the form
    first); returns the design page's URL."""
    stl = tmp_path / "cube.stl"
    stl.write_bytes(cube_stl(20))
    page.goto(f"{hub_url}/designs/new")
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Licence").select_option("CERN-OHL-S-2.0")
    page.get_by_label("Files", exact=True).set_input_files(str(stl))
    if fill_more is not None:
        fill_more()
    page.get_by_role("button", name="Publish").click()
    page.wait_for_url(re.compile(r".*/designs/\d+$"))
    return str(page.url)


def register_lab(page: Any, hub_url: str, name: str, lat: float, lon: float, materials: str) -> str:
    """Register a lab with one FDM printer (mk4-1) in the browser; returns its node token."""
    page.goto(f"{hub_url}/fablabs/new")
    page.get_by_label("Name of the lab").fill(name)
    page.get_by_label("Latitude").fill(str(lat))
    page.get_by_label("Longitude").fill(str(lon))
    page.locator("#machine-0-key").fill("mk4-1")
    page.locator("#machine-0-name").fill("Prusa MK4")
    page.locator("#machine-0-process").select_option("fdm")
    for axis, size in zip("xyz", ("250", "210", "220"), strict=True):
        page.locator(f"#machine-0-{axis}").fill(size)
    page.locator("#machine-0-materials").fill(materials)
    page.get_by_role("button", name="Register the lab").click()
    return str(page.get_by_label("Node token").input_value())


def beat(hub_url: str, token: str) -> None:
    api(hub_url, "/api/v1/node/heartbeat", {"agent": "browser-test/1", "machines": [{"key": "mk4-1", "state": "idle"}]},
        token)


def test_publish_order_make_and_receive(browser: Any, hub_url: str, tmp_path: Path) -> None:
    expect = sync_api.expect
    # a designer publishes a cube and sees its report and thumbnail appear without reloading
    designer = person(browser, hub_url)
    sign_up(designer, hub_url, "Dee")

    def described() -> None:
        designer.get_by_label("Description").fill("A 20 mm cube to check a printer's dimensions.")
        expect(designer.locator("#license-summary")).to_contain_text("Anyone may make, change and sell")
        designer.get_by_label("Tags").fill("calibration, test")
        shot(designer, "publish-form")

    design_url = publish_cube(designer, hub_url, tmp_path, "Calibration cube", described)
    file_box = designer.locator(".file").first
    expect(file_box.locator(".status")).to_have_text("Passed", timeout=30_000)
    expect(file_box.locator("img")).to_be_visible()
    expect(file_box).to_contain_text("3D printing (FDM)")
    shot(designer, "design")

    # an operator registers a lab in the browser; its agent's heartbeats come through the API
    operator = person(browser, hub_url)
    sign_up(operator, hub_url, "Olga")
    token = register_lab(operator, hub_url, "Ateneu Fablab", BARCELONA[0], BARCELONA[1], "PLA, PETG")
    assert token.startswith("cln_")
    shot(operator, "lab-token")
    beat(hub_url, token)

    # a citizen sees the lab that could make it, then orders
    citizen = person(browser, hub_url)
    sign_up(citizen, hub_url, "Carla")
    citizen.goto(design_url)
    citizen.get_by_label("Material", exact=True).fill("PLA")
    citizen.get_by_label("Quantity").fill("2")
    citizen.get_by_label("Place", exact=True).fill("Barcelona, Spain")
    citizen.get_by_label("At most this far (km)").fill("50")
    citizen.get_by_role("button", name="Show labs that could make it").click()
    expect(citizen.locator(".labs-preview")).to_contain_text("Ateneu Fablab")
    shot(citizen, "order-form")
    citizen.get_by_role("button", name="Place the order").click()
    citizen.wait_for_url(re.compile(r".*/orders/\d+$"))
    order_page = citizen.url
    expect(citizen.locator(".big-status")).to_contain_text("Offered to a lab")
    expect(citizen.locator(".timeline")).to_contain_text("Offered to Ateneu Fablab")

    # the operator accepts from the dashboard, reports progress and marks it done
    operator.goto(f"{hub_url}/dashboard")
    expect(operator.locator(".time-left")).to_contain_text("left")
    shot(operator, "dashboard-offer")
    operator.get_by_role("button", name="Accept").click()
    expect(operator.locator(".notice.ok")).to_contain_text("Offer accepted")
    expect(citizen.locator(".big-status")).to_contain_text("Accepted by the lab", timeout=15_000)  # no reload
    operator.get_by_label("Set progress (%)").fill("60")
    operator.get_by_role("button", name="Update").click()
    expect(operator.locator(".notice.ok")).to_contain_text("Progress set to 60%")
    shot(operator, "dashboard-progress")
    expect(citizen.locator("[data-progress-text]")).to_have_text("60%", timeout=15_000)
    operator.get_by_role("button", name="Mark done").click()
    expect(operator.locator(".notice.ok")).to_contain_text("Marked as done")

    # the citizen's page reaches completed by itself; they confirm
    expect(citizen.locator(".big-status")).to_contain_text("Made: ready for you", timeout=15_000)
    expect(citizen.locator(".timeline")).to_contain_text("Made and ready")
    shot(citizen, "order-completed")
    citizen.get_by_role("button", name="I received it").click()
    expect(citizen.locator(".big-status")).to_contain_text("Received")
    assert citizen.url == order_page
    citizen.goto(f"{hub_url}/orders")
    expect(citizen.locator("table.list")).to_contain_text("Received")
    shot(citizen, "my-orders")

    # the other main pages, for the record
    for page, path, name in ((citizen, "/", "home"), (citizen, "/designs", "gallery"),
                             (citizen, "/fablabs?place=Barcelona%2C+Spain&radius_km=100", "directory"),
                             (operator, "/tokens", "tokens"), (citizen, "/no/such/page", "not-found")):
        page.goto(f"{hub_url}{path}")
        shot(page, name)
    citizen.goto(f"{hub_url}/fablabs")
    citizen.get_by_role("link", name="Ateneu Fablab").first.click()
    expect(citizen.locator(".machine")).to_contain_text("Prusa MK4")
    expect(citizen.locator("svg.availability")).to_have_count(1)
    shot(citizen, "lab")
    phone = person(browser, hub_url, viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.goto(design_url)
    shot(phone, "design-phone")
    phone.goto(f"{hub_url}/")
    shot(phone, "home-phone")


def test_upload_error_is_shown_in_the_form(browser: Any, hub_url: str, tmp_path: Path) -> None:
    page = person(browser, hub_url)
    sign_up(page, hub_url, "Nora")
    stl = tmp_path / "cube.stl"
    stl.write_bytes(cube_stl(10))
    page.goto(f"{hub_url}/designs/new")
    page.get_by_label("Title", exact=True).fill("Not open")
    # a refused licence cannot be chosen in the picker; a client could still send one
    page.locator("#license").evaluate(
        "s => { const o = new Option('CC-BY-NC-4.0', 'CC-BY-NC-4.0'); s.add(o); s.value = o.value; }")
    page.get_by_label("Files", exact=True).set_input_files(str(stl))
    page.get_by_role("button", name="Publish").click()
    expect = sync_api.expect
    expect(page.locator("#form-error")).to_contain_text("forbids commercial use")
    assert page.url.endswith("/designs/new")
    shot(page, "publish-error")


def test_operator_publishes_rates_and_a_citizen_sorts_the_quotes(browser: Any, hub_url: str, tmp_path: Path) -> None:
    expect = sync_api.expect
    designer = person(browser, hub_url)
    sign_up(designer, hub_url, "Rita")
    design_url = publish_cube(designer, hub_url, tmp_path, "Quoted cube")
    expect(designer.locator(".file").first.locator(".status")).to_have_text("Passed", timeout=30_000)

    operator = person(browser, hub_url)
    sign_up(operator, hub_url, "Rafa")
    for name, lat, lon in (("Gracia Lab", BARCELONA[0], BARCELONA[1]), ("Sabadell Lab", 41.5463, 2.1086)):
        beat(hub_url, register_lab(operator, hub_url, name, lat, lon, "PLA"))
        lab_id = re.search(r"/dashboard/labs/(\d+)/", operator.content()).group(1)  # type: ignore[union-attr]
        # the operator publishes the lab's rates in the dashboard's form: the farther lab is cheaper
        operator.goto(f"{hub_url}/dashboard/labs/{lab_id}/rates")
        operator.get_by_label("Currency (ISO 4217)").fill("EUR")
        operator.get_by_label("Machine of line 1").select_option("mk4-1")
        operator.get_by_label("Material of line 1").fill("PLA")
        operator.get_by_label("setup of line 1").fill("9.00" if name == "Gracia Lab" else "2.00")
        operator.get_by_label("Machines run unattended").check()
        shot(operator, "rates-form")
        operator.get_by_role("button", name="Publish rates").click()
        expect(operator.locator("#rates")).to_contain_text("Prusa MK4, PLA: setup €")

    citizen = person(browser, hub_url)
    citizen.goto(design_url)
    citizen.get_by_label("Material for quotes").fill("PLA")
    citizen.get_by_label("Near (City, Country)").fill("Barcelona, Spain")
    citizen.get_by_role("button", name="Show quotes").click()
    rows = citizen.locator("#quotes-table tbody tr")  # with the other test's lab, which publishes no rates
    expect(rows.first).to_contain_text("Sabadell Lab")  # cheapest first
    expect(rows.first).to_contain_text("€2.00")
    expect(rows.nth(1)).to_contain_text("Gracia Lab")
    expect(rows.last).to_contain_text("price on request")
    citizen.locator("#quotes-table").get_by_role("link", name="Distance").click()
    expect(rows.last).to_contain_text("Sabadell Lab")  # nearest first: the one 18 km out comes last
    expect(citizen.locator("#quotes-table tbody")).to_contain_text("€9.00")
    shot(citizen, "quotes-table")
