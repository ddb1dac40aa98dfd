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
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def serve_hub(tmp: Path, **overrides: Any) -> Iterator[tuple[str, Any]]:
    """A hub on a fresh migrated SQLite file, served in a thread on 127.0.0.1: its URL and its app."""
    from werkzeug.serving import make_server

    from server.app import create_app
    from server.config import Settings
    from server.db import make_engine
    from server.schema import upgrade
    from tests.conftest import ROOMY_LIMITS

    url = f"sqlite:///{tmp / 'hub.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    settings = Settings.from_env(**{"data_dir": tmp / "data", "database_url": url, "sweeper_interval_s": 1.0,
                                    "secret_key": "browser-test", "max_upload_mb": 20, "limits": ROOMY_LIMITS,
                                    **overrides})
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", app
    server.shutdown()
    app.extensions["cosmoloc.hub"].close()


@pytest.fixture(scope="module")
def hub_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_hub(tmp_path_factory.mktemp("hub")) as (url, _app):
        yield url


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


def test_publish_order_make_and_receive(browser: Any, hub_url: str, tmp_path: Path) -> None:
    expect = sync_api.expect
    # a designer publishes a cube and sees its report and thumbnail appear without reloading
    designer = person(browser, hub_url)
    sign_up(designer, hub_url, "Dee")
    stl = tmp_path / "cube.stl"
    stl.write_bytes(cube_stl(20))
    designer.goto(f"{hub_url}/designs/new")
    designer.get_by_label("Title", exact=True).fill("Calibration cube")
    designer.get_by_label("Description").fill("A 20 mm cube to check a printer's dimensions.")
    designer.get_by_label("Licence").select_option("CERN-OHL-S-2.0")
    expect(designer.locator("#license-summary")).to_contain_text("Anyone may make, change and sell")
    designer.get_by_label("Tags").fill("calibration, test")
    designer.get_by_label("Files", exact=True).set_input_files(str(stl))
    shot(designer, "publish-form")
    designer.get_by_role("button", name="Publish").click()
    designer.wait_for_url(re.compile(r".*/designs/\d+$"))
    design_url = designer.url
    file_box = designer.locator(".file").first
    expect(file_box.locator(".status")).to_have_text("Passed", timeout=30_000)
    expect(file_box.locator("img")).to_be_visible()
    expect(file_box).to_contain_text("3D printing (FDM)")
    shot(designer, "design")

    # an operator registers a lab in the browser; its agent's heartbeats come through the API
    operator = person(browser, hub_url)
    sign_up(operator, hub_url, "Olga")
    operator.goto(f"{hub_url}/fablabs/new")
    operator.get_by_label("Name of the lab").fill("Ateneu Fablab")
    operator.get_by_label("Latitude").fill(str(BARCELONA[0]))
    operator.get_by_label("Longitude").fill(str(BARCELONA[1]))
    operator.locator("#machine-0-key").fill("mk4-1")
    operator.locator("#machine-0-name").fill("Prusa MK4")
    operator.locator("#machine-0-process").select_option("fdm")
    for axis, size in zip("xyz", ("250", "210", "220"), strict=True):
        operator.locator(f"#machine-0-{axis}").fill(size)
    operator.locator("#machine-0-materials").fill("PLA, PETG")
    operator.get_by_role("button", name="Register the lab").click()
    token = operator.get_by_label("Node token").input_value()
    assert token.startswith("cln_")
    shot(operator, "lab-token")
    api(hub_url, "/api/v1/node/heartbeat", {"agent": "browser-test/1", "machines": [{"key": "mk4-1", "state": "idle"}]},
        token)

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


def test_the_api_page_shows_every_operation_under_the_pages_policy(browser: Any, hub_url: str) -> None:
    from server.web.assets import SWAGGER_UI_FILES, VENDOR

    if not all((VENDOR / "swagger-ui" / name).is_file() for name in SWAGGER_UI_FILES):
        pytest.skip("Swagger UI is not installed (python -m server.web.assets, which needs npm)")
    expect = sync_api.expect
    page = person(browser, hub_url)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    with urllib.request.urlopen(f"{hub_url}/api/v1/openapi.json", timeout=10) as answer:
        doc = json.loads(answer.read())
    count = sum(len(ops) for ops in doc["paths"].values())
    answer = page.goto(f"{hub_url}/api/docs")
    assert answer is not None and "script-src 'self'" in answer.headers["content-security-policy"]
    expect(page.locator(".opblock")).to_have_count(count, timeout=30_000)
    page.locator(".opblock-summary", has_text="/api/v1/node/heartbeat").first.click()
    expect(page.locator(".opblock.is-open")).to_contain_text("offered_jobs")  # the answer, from the model
    shot(page, "api-docs")
    assert refused == []
