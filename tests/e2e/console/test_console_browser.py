"""The admin console in headless Chromium (Debian's, driven by Python playwright).

The app runs on a real loopback port, once per backend (SQLite, PostgreSQL),
and one browser serves the whole module; each test signs its people in with a
fresh browser context. Conflicts come from two phones pushing through
POST /sync/push; the devices then pull and must hold what the admin chose.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, Page, async_playwright, expect

from jobs.queue import InProcessQueue
from syncd import appkeys
from syncd.app import create_app
from tests.support.console_world import (
    Sessions,
    Team,
    purchase_change,
    receipt_change,
    team,
    two_phone_conflict,
)
from tests.support.factories import PASSWORD, Account
from tests.support.media import jobs_done, new_task
from tests.support.reports import block_reports
from tests.support.services import BACKENDS, make_settings, migrated, service_missing
from tests.support.sync import Replica, push, upsert

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

CHROMIUM = Path("/usr/bin/chromium")
WAIT_MS = 15_000  # the longest a page may take to show what a test waits for
expect.set_options(timeout=WAIT_MS)


@dataclass
class Served:
    app: web.Application
    client: TestClient[Any, Any]
    base_url: str

    @property
    def sessions(self) -> Sessions:
        return self.app[appkeys.SESSIONS]


@pytest.fixture(scope="module", params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, migrated_urls: dict[str, str]) -> str:
    return migrated(request, migrated_urls, request.param)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(
    backend_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Served]:
    settings = make_settings(tmp_path_factory.mktemp("console"), DATABASE_URL=backend_url)
    app = create_app(settings)
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield Served(app, client, str(client.make_url("")).rstrip("/"))
    finally:
        await client.close()


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        service_missing("Chromium", "not at /usr/bin/chromium; apt-get install -y chromium")
    return CHROMIUM


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        await launched.close()


@pytest_asyncio.fixture(loop_scope="module")
async def world(served: Served) -> Team:
    return await team(served.client, served.sessions, time_zone="Asia/Riyadh")


async def open_page(browser: Browser, served: Served, locale: str = "en-GB") -> Page:
    context = await browser.new_context(base_url=served.base_url, locale=locale)
    context.set_default_timeout(WAIT_MS)
    return await context.new_page()


async def sign_in(page: Page, account: Account, lands_on: str = "/console/inbox") -> None:
    """Sign in by keyboard, finding each field by its label."""
    await page.goto("/console/login")
    await page.get_by_label("Organisation").fill(account.tenant.slug)
    await page.get_by_label("Email").fill(account.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("Password").press("Enter")
    await page.wait_for_url(f"**{lands_on}")


async def close(page: Page) -> None:
    await page.context.close()


async def test_admin_resolves_a_two_phone_conflict_with_a_custom_value(
    browser: Browser, served: Served, world: Team
) -> None:
    made = await two_phone_conflict(served.client, world)
    page = await open_page(browser, served)
    await sign_in(page, world.admin)
    cookie = next(c for c in await page.context.cookies() if c["name"] == "syncd_console")
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Strict")

    row = page.locator(f"tr[data-conflict-id='{made.conflict_id}']")
    await expect(row).to_contain_text("phone-amal")
    await expect(row).to_contain_text(world.tech_a.email)
    when = await row.locator("time").get_attribute("datetime")
    assert when is not None
    assert when.endswith("+03:00"), when  # the tenant's zone
    await row.get_by_role("link").click()

    diff = page.locator("table.diff tbody tr", has_text="priority")
    await expect(diff.locator("td.base")).to_have_text("normal")
    await expect(diff.locator("td.server")).to_have_text("high")
    await expect(diff.locator("td.client")).to_have_text("low")
    await expect(page.locator(".facts")).to_contain_text("phone-omar")
    custom = page.get_by_label("priority")
    await custom.fill("urgent")
    await custom.press("Enter")
    await expect(page.locator(".notice")).to_contain_text("The conflict is resolved")
    await expect(page.locator(".facts")).to_contain_text("custom")
    await close(page)

    for phone, account in ((made.phone_a, world.tech_a), (made.phone_b, world.tech_b)):
        await phone.sync(served.client, account)
        assert phone.rows[("task", str(made.task_id))]["priority"] == "urgent"


async def test_the_inbox_updates_live(browser: Browser, served: Served, world: Team) -> None:
    page = await open_page(browser, served)
    await sign_in(page, world.admin)
    await expect(page.locator("#conflict-rows")).to_contain_text("No conflicts match")
    made = await two_phone_conflict(served.client, world)
    row = page.locator(f"tr[data-conflict-id='{made.conflict_id}']")
    await expect(row).to_be_visible()  # pushed in by the event stream, no reload
    await expect(page.locator("#live-status")).to_have_text("The list was updated.")
    resolved = await served.client.post(
        f"/conflicts/{made.conflict_id}/resolve",
        json={"resolution": "keep_server"},
        headers=world.admin.headers,
    )
    assert resolved.status == 200, await resolved.text()
    await expect(row).to_have_count(0)
    await close(page)


async def test_admin_replays_a_rejected_change_after_its_cause_is_fixed(
    browser: Browser, served: Served, world: Team
) -> None:
    purchase_id = uuid.uuid4()
    receipt = receipt_change(purchase_id, "phone-dispatch")
    answer = await push(served.client, world.staff, "phone-dispatch", [receipt])
    assert answer["results"][0]["problem"]["code"] == "unknown_reference"

    page = await open_page(browser, served)
    await sign_in(page, world.admin)
    await page.get_by_role("link", name="Rejected changes").click()
    card = page.locator("li.card", has_text=receipt["id"])
    await expect(card).to_contain_text("unknown_reference")
    await card.get_by_role("button", name="Replay").click()
    await expect(page.locator(".notice")).to_contain_text("rejected again")
    await expect(card).to_contain_text("unknown_reference")

    await push(served.client, world.staff, "phone-dispatch", [purchase_change(purchase_id, "p")])
    await card.get_by_role("button", name="Replay").click()
    await expect(page.locator(".notice")).to_contain_text("replayed and applied")
    await expect(card).to_have_count(0)  # no longer open
    await close(page)

    replica = Replica()
    await replica.sync(served.client, world.staff)
    assert ("receipt", receipt["id"]) in replica.rows


async def test_admin_retries_a_failed_job(browser: Browser, served: Served, world: Team) -> None:
    queue = served.app[appkeys.JOBS]
    assert isinstance(queue, InProcessQueue)
    queue.backoff_s = ()  # one attempt: it fails for good at once
    blocker = block_reports(served.app[appkeys.SETTINGS], world.tenant.id)
    task_id = await new_task(served.client, world.staff)
    asked = await served.client.post(
        f"/tasks/{task_id}/job-sheets", json={"locale": "en"}, headers=world.staff.headers
    )
    assert asked.status == 202, await asked.text()
    report_id = (await asked.json())["id"]
    await jobs_done(served.app)

    page = await open_page(browser, served)
    await sign_in(page, world.admin)
    await page.get_by_role("link", name="Jobs").click()
    failure = page.locator("li.card", has_text="jobs.reports.make_job_sheet")
    await expect(failure).to_contain_text(re.compile("FileExistsError|NotADirectoryError"))
    blocker.unlink()
    await failure.get_by_role("button", name="Retry").click()
    await expect(page.locator(".notice")).to_contain_text("queued again")
    await jobs_done(served.app)
    await page.reload()
    await expect(page.locator("li.card", has_text="make_job_sheet")).to_have_count(0)
    await close(page)
    done = await served.client.get(f"/reports/{report_id}", headers=world.staff.headers)
    assert (await done.json())["status"] == "done"


async def test_staff_cannot_open_the_inbox(browser: Browser, served: Served, world: Team) -> None:
    page = await open_page(browser, served)
    await sign_in(page, world.staff, lands_on="/console/tasks")
    await page.keyboard.press("Tab")  # the first stop is the way past the navigation
    await expect(page.get_by_role("link", name="Skip to the content")).to_be_focused()
    nav = page.get_by_role("navigation")
    await expect(nav.get_by_role("link", name="Tasks board")).to_be_visible()
    await expect(nav.get_by_role("link", name="Conflict inbox")).to_have_count(0)
    response = await page.goto("/console/inbox")
    assert response is not None
    assert response.status == 403
    await expect(page.locator("h1")).to_have_text("Your role does not allow this")
    await expect(page.locator(".problem")).to_contain_text("permission_denied")
    await close(page)


async def test_another_tenants_admin_sees_none_of_it(
    browser: Browser, served: Served, world: Team
) -> None:
    made = await two_phone_conflict(served.client, world)
    await push(served.client, world.staff, "phone-x", [receipt_change(uuid.uuid4(), "phone-x")])
    stranger = await team(served.client, served.sessions)
    page = await open_page(browser, served)
    await sign_in(page, stranger.admin)
    await expect(page.locator("#conflict-rows")).to_contain_text("No conflicts match")
    response = await page.goto(f"/console/conflicts/{made.conflict_id}")
    assert response is not None
    assert response.status == 404
    await page.goto("/console/devices")
    await expect(page.locator("table.devices tbody")).to_contain_text("No device has synced yet")
    await page.goto("/console/rejections?status=all")
    await expect(page.locator("ol.cards")).to_contain_text("No rejected changes")
    await page.goto("/console/tasks")
    await expect(page.locator(".board")).not_to_contain_text("Replace the pump")
    await close(page)


async def test_a_form_without_its_csrf_token_is_refused(
    browser: Browser, served: Served, world: Team
) -> None:
    made = await two_phone_conflict(served.client, world)
    page = await open_page(browser, served)
    await sign_in(page, world.admin)
    await page.goto(f"/console/conflicts/{made.conflict_id}")
    form = page.locator("form", has=page.get_by_role("button", name="Keep the server's value"))
    await form.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    async with page.expect_response(f"**/console/conflicts/{made.conflict_id}/resolve") as sent:
        await form.get_by_role("button").click()
    assert (await sent.value).status == 403
    await expect(page.locator(".problem")).to_contain_text("csrf_failed")
    await close(page)
    still = await served.client.get(f"/conflicts/{made.conflict_id}", headers=world.admin.headers)
    assert (await still.json())["status"] == "open"


async def test_a_hostile_task_title_is_shown_as_text(
    browser: Browser, served: Served, world: Team
) -> None:
    title = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
    await push(
        served.client, world.staff, "tablet", [upsert("task", uuid.uuid4(), "t", title=title)]
    )
    page = await open_page(browser, served)
    await sign_in(page, world.staff, lands_on="/console/tasks")
    card = page.locator("li.task", has_text="window.pwned")
    await expect(card.locator(".title")).to_have_text(title)
    assert await card.locator("script, img").count() == 0
    assert await page.evaluate("window.pwned") is None
    await close(page)


async def test_the_arabic_inbox_renders_right_to_left(browser: Browser, served: Served) -> None:
    arabic = await team(served.client, served.sessions, locale="ar", time_zone="Asia/Riyadh")
    made = await two_phone_conflict(served.client, arabic, title="استبدال المضخة")
    page = await open_page(browser, served, locale="ar-SA")
    await page.goto("/console/login")
    await expect(page.locator("html")).to_have_attribute("dir", "rtl")
    await page.get_by_label("المؤسسة").fill(arabic.tenant.slug)
    await page.get_by_label("البريد الإلكتروني").fill(arabic.admin.email)
    await page.get_by_label("كلمة المرور").fill(PASSWORD)
    await page.get_by_role("button", name="تسجيل الدخول").click()
    await page.wait_for_url("**/console/inbox")
    await expect(page.locator("html")).to_have_attribute("lang", "ar")
    await expect(page.locator("h1")).to_have_text("صندوق التعارضات")
    await expect(page.locator(f"tr[data-conflict-id='{made.conflict_id}']")).to_be_visible()
    direction = await page.locator("table.list").evaluate("t => getComputedStyle(t).direction")
    assert direction == "rtl"
    nav = await page.get_by_role("navigation").bounding_box()
    main = await page.locator("main").bounding_box()
    assert nav is not None
    assert main is not None
    assert nav["x"] > main["x"], "the navigation should sit on the right in Arabic"
    headers = page.locator("table.list thead th")
    first, last = await headers.first.bounding_box(), await headers.last.bounding_box()
    assert first is not None
    assert last is not None
    assert first["x"] > last["x"]
    await close(page)
