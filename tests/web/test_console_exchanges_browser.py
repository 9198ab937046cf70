"""The console's hash exchanges page in chromium: each exchange with its state, last fetch and
counts, a refused credential in plain words, and "Fetch now" for admins only; strict CSP, no serious
axe-core finding, no sideways scroll at phone width; screenshots at 1,280 and 375 px."""

from __future__ import annotations

import sqlalchemy as sa

from staydown.delivery.models import Job
from staydown.evidence.crypto import MasterKeys
from staydown.exchanges.actions import EXCHANGE_FETCH, exchange_by_name, run_fetch
from staydown.exchanges.local_servers import ncmec_app, threatexchange_app
from tests.exchanges.conftest import configure, serve
from tests.web.conftest import screenshot
from tests.web.console_helpers import session_token
from tests.web.test_public_pages import no_horizontal_scroll, run_axe

TOKEN = "1234567890|local-threatexchange-token-abcdef"


def _cookie(page, token: str) -> None:
    page.context.add_cookies(
        [
            {
                "name": "sd_session",
                "value": token,
                "domain": "127.0.0.1",
                "path": "/console",
                "httpOnly": True,
                "sameSite": "Strict",
            }
        ]
    )


def test_console_exchanges_page_in_chromium(live_server, page, browser) -> None:
    database, settings = live_server.database, live_server.settings
    te = threatexchange_app(token=TOKEN)
    te.state.exchange.records += [
        {
            "id": str(i),
            "indicator": "%064x" % (i + 5),
            "type": "HASH_PDQ",
            "last_updated": 10 + i,
            "should_delete": i == 3,
            "privacy_group": 9,
            "descriptors": {"data": [{"id": str(80 + i), "owner": {"id": "42"}, "status": "MALICIOUS", "tags": []}]},
        }
        for i in range(4)
    ]
    keys = MasterKeys.from_base64(settings.vault_master_key.get_secret_value())
    with serve(te) as url, serve(ncmec_app(username="esp-user", password="esp-password")) as ncmec_url:
        configure(
            database,
            settings,
            name="gifct-te",
            api="fb_threatexchange",
            config={"privacy_group": 9, "base_url": url},
            credentials=TOKEN,
            policy_id="terrorist-content",
        )
        configure(
            database,
            settings,
            name="ncmec-industry",
            api="ncmec",
            config={"environment": "Industry", "base_url": ncmec_url},
            credentials="esp-user:wrong-password",
            confirmed_material=True,
        )
        for name in ("gifct-te", "ncmec-industry"):
            db = database.session()
            try:
                run_fetch(db, exchange=exchange_by_name(db, name), settings=settings, keys=keys)
            finally:
                db.close()

    _cookie(page, session_token(database, "root", "admin"))
    page.goto(f"{live_server.url}/console/exchanges")
    assert page.locator("h1").inner_text() == "Hash exchanges"
    text = page.locator("main").inner_text()
    assert "up to date" in text and "credentials refused" in text
    assert "NCMEC hash sharing" in text and "refused the credentials" in text
    screenshot(page, "console-exchanges")
    run_axe(page)
    no_horizontal_scroll(page)

    page.get_by_role("button", name="Fetch now gifct-te").click()
    page.wait_for_url("**queued=gifct-te")
    assert "A fetch of gifct-te is queued" in page.content()
    with database.unit_of_work(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Job).where(Job.kind == EXCHANGE_FETCH)) == 1
    screenshot(page, "console-exchanges-queued")
    assert page.problems == []

    # A moderator reads the page; the button is not theirs.
    other = browser.new_context()
    mo_page = other.new_page()
    _cookie(mo_page, session_token(database, "mo", "moderator"))
    mo_page.goto(f"{live_server.url}/console/exchanges")
    assert "gifct-te" in mo_page.content() and mo_page.locator("button:has-text('Fetch now')").count() == 0
    other.close()
