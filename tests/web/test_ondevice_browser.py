"""Pictures fingerprinted on the person's device, in Debian's chromium (TID-1, TID-3, TID-4, X-1, X-5,
X-6): the page's PDQ gives pdqhash's bits on the same pixels, its MD5 is hashlib's; a person hashes
20 pictures and not one request carries a byte of them; stored copies reach review, edited uploads
are held and reach the review queue, withdrawal disables the hashes; without JavaScript the page
says what it needs; axe-core finds no violation at 1,280 and 375 px."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import httpx
import numpy as np
import pdqhash
import sqlalchemy as sa
from PIL import Image, ImageOps

from staydown.app import worker_services
from staydown.cases.models import Case, LegalTrack
from staydown.intake.models import HashSubmission, Notice, NoticeItem
from staydown.jobs import build_registry
from staydown.matching.models import BankEntry
from staydown.subjects.models import PlatformContent
from staydown.worker import Worker
from tests.helpers import PASSWORD, auth, make_key, make_staff
from tests.imagegen import encode, synthetic
from tests.intake.test_hash_submissions import TRANSFORMS, picture_line
from tests.web.conftest import DESKTOP, PHONE, screenshot
from tests.web.test_public_pages import check_page, run_axe

READY_RE = re.compile(r"(\d+) of (\d+) pictures are ready")


def _pdq(rgb: np.ndarray) -> tuple[str, int]:
    vector, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return np.packbits(vector.astype(np.uint8)).tobytes().hex(), int(quality)


def _hash_pixels(page, rgb: np.ndarray) -> dict:
    h, w, channels = rgb.shape
    return page.evaluate(
        """async ([b64, w, h, c]) => {
        const bytes = Uint8Array.from(atob(b64), ch => ch.charCodeAt(0));
        return await window.StaydownOndevice.hashPixels(bytes.buffer, w, h, c);
    }""",
        [base64.b64encode(np.ascontiguousarray(rgb).tobytes()).decode(), w, h, channels],
    )


def _varied_pixels() -> list[tuple[str, np.ndarray]]:
    """Sizes below PDQ's minimum, exactly 64 x 64 (no filter), odd and prime sides, wide and tall,
    photo-like and noisy, a gradient, and a large one (a window of 12 pixels)."""
    rng = np.random.default_rng(20261207)
    out = []
    for w, h in [(4, 40), (5, 5), (64, 64), (63, 65), (97, 211), (300, 17), (640, 480), (1500, 1100)]:
        big = synthetic(int(rng.integers(1_000_000)), (max(w, 64), max(h, 64)))
        out.append((f"synthetic {w}x{h}", np.asarray(big.resize((w, h), Image.Resampling.BILINEAR))))
    out.append(("noise 257x129", rng.integers(0, 256, (129, 257, 3), dtype=np.uint8)))
    y, x = np.mgrid[0:200, 0:300]
    out.append(("gradient", np.dstack([x * 255 // 299, y * 255 // 199, (x + y) % 256]).astype(np.uint8)))
    return out


def test_pdq_in_chromium_is_bit_for_bit_pdqhash_on_the_same_pixels(live_server, page) -> None:
    """The worker's PDQ, quality and 7 turned and mirrored hashes against pdqhash on the same RGB
    bytes (and on the transformed bytes): distance 0 on every image. RGBA is flattened onto white
    as the server's decoder does (Pillow's paste), then hashed."""
    page.goto(f"{live_server.url}/takedown/pictures")
    page.wait_for_function("() => window.StaydownOndevice")
    for label, rgb in _varied_pixels():
        got = _hash_pixels(page, rgb)
        expected, quality = _pdq(rgb)
        assert got["ok"] and (got["pdq"], got["quality"]) == (expected, quality), label
        for variant in got["variants"]:
            assert variant["pdq"] == _pdq(TRANSFORMS[variant["name"]](rgb))[0], (label, variant["name"])
    rng = np.random.default_rng(7)
    rgba = np.dstack([np.asarray(synthetic(77, (320, 240))), rng.integers(0, 256, (240, 320), dtype=np.uint8)])
    flat = Image.new("RGB", (320, 240), (255, 255, 255))
    im = Image.fromarray(rgba, "RGBA")
    flat.paste(im, mask=im.getchannel("A"))
    got = _hash_pixels(page, rgba)
    assert (got["pdq"], got["quality"]) == _pdq(np.asarray(flat))
    assert page.problems == []


def test_md5_in_chromium_is_hashlibs(live_server, page) -> None:
    """Web Crypto has no MD5: the page's own, against hashlib on every tail length and a large file."""
    page.goto(f"{live_server.url}/takedown/pictures")
    page.add_script_tag(url=f"{live_server.url}/static/ondevice/pdq.js")
    rng = np.random.default_rng(5)
    blobs = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in [*range(130), 1000, 65_537, 3_000_001]]
    got = page.evaluate(
        """(list) => list.map(b64 => StaydownPdq.md5(Uint8Array.from(atob(b64), c => c.charCodeAt(0))))""",
        [base64.b64encode(b).decode() for b in blobs],
    )
    assert got == [hashlib.md5(b).hexdigest() for b in blobs]


def test_a_png_file_decoded_by_chromium_hashes_as_the_server_hashes_it(live_server, page, tmp_path: Path) -> None:
    """A lossless file: the browser decodes the same pixels Pillow does, so the page's line is the
    server's (pdqhash on Pillow's pixels), EXIF orientation included."""
    img = synthetic(31, (360, 240))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter clockwise
    files = {"plain.png": encode(img, "PNG"), "turned.png": encode(img, "PNG", exif=exif.tobytes())}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    page.goto(f"{live_server.url}/takedown/pictures")
    page.set_input_files("#pick-files", [str(tmp_path / n) for n in files])
    page.wait_for_function("() => /2 of 2 pictures are ready/.test(document.getElementById('hash-status').textContent)")
    lines = page.input_value("#f-pictures").split("\n")
    assert lines == [picture_line(files["plain.png"]), picture_line(files["turned.png"])]


def _benign_pictures(tmp_path: Path, n: int) -> list[Path]:
    """Benign synthetic pictures of varied sizes and formats, as a person's folder might hold."""
    paths = []
    for i in range(n):
        size = [(640, 480), (480, 640), (800, 533), (512, 512)][i % 4]
        img = synthetic(4000 + i, size)
        fmt, ext, kw = [("JPEG", "jpg", {"quality": 88}), ("PNG", "png", {}), ("WEBP", "webp", {"quality": 90})][i % 3]
        path = tmp_path / f"picture-{i:02d}.{ext}"
        path.write_bytes(encode(img, fmt, **kw))
        paths.append(path)
    return paths


def _scan(url: str, key: str, content_id: str, data: bytes) -> dict:
    r = httpx.post(
        f"{url}/v1/scan",
        headers=auth(key),
        files={"file": ("f", data, "image/jpeg")},
        data={"content_id": content_id, "account_id": "acct-" + content_id},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    return r.json()


def _run_jobs(live_server) -> None:
    Worker(live_server.database, build_registry(), services=worker_services(live_server.app)).run_until_idle()


def _all_axe_violations(page) -> list:
    run_axe(page)  # serious and critical: none (and it loads axe into the page)
    return page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']})).violations
                            .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))""")


def test_a_person_hashes_20_pictures_locally_sends_only_hashes_and_copies_are_held_then_withdrawn(
    live_server, page, tmp_path: Path
) -> None:
    """REQ TID-1, TID-3, TID-4, X-5. Every request the page makes is inspected: none carries a byte
    of any picture. Stored copies are found for review; later edited uploads (mirrored, bordered,
    cropped 3% on one side) are held and reach the review queue; withdrawal disables the hashes."""
    url = live_server.url
    key = make_key(live_server.database, ["scan", "match", "notices:submit"])
    paths = _benign_pictures(tmp_path, 20)
    pictures = [p.read_bytes() for p in paths]
    # Already on the platform: an exact copy of picture 0 and a mirrored copy of picture 1.
    _scan(url, key, "stored-exact", pictures[0])
    _scan(url, key, "stored-mirror", encode(ImageOps.mirror(Image.open(paths[1])), "JPEG", quality=85))

    sent: list[tuple[str, str, bytes]] = []
    page.on("request", lambda r: sent.append((r.method, r.url, r.post_data_buffer or b"")))
    page.goto(f"{url}/takedown/pictures")
    check_page(page, "ondevice-empty")
    assert _all_axe_violations(page) == []
    page.set_input_files("#pick-files", [str(p) for p in paths])
    page.wait_for_function(
        "() => /20 of 20 pictures are ready/.test(document.getElementById('hash-status').textContent)", timeout=120_000
    )
    assert page.locator("#picture-list li.picture-ready").count() == 20
    # Every preview is shown (decoded from the local file) before anyone looks at the page.
    page.wait_for_function(
        "() => [...document.querySelectorAll('#picture-list img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    # The previews are local addresses of the files on this device, never a server's.
    sources = page.eval_on_selector_all("#picture-list img", "els => els.map(e => e.src)")
    assert len(sources) == 20 and all(s.startswith("blob:") for s in sources)
    page.check("input[name=reporter][value=affected_person]")
    page.check("#f-good_faith")
    page.fill("#f-explanation", "They were sent privately to one person and posted without my consent.")
    page.fill("#f-signature", "Alex Example")
    page.fill("#f-contact_email", "alex@example.org")
    check_page(page, "ondevice-ready")
    for width in (DESKTOP, PHONE):
        page.set_viewport_size(width)
        assert _all_axe_violations(page) == [], width
    page.set_viewport_size(DESKTOP)
    page.click("#send")
    code = page.inner_text("#tracking-code").strip()
    assert code
    check_page(page, "ondevice-done", status=201)

    # Not one request carried a picture: every body is checked for a slice of every file.
    bodies = [(m, u, b) for m, u, b in sent if b]
    assert [(m, u.split("?")[0]) for m, u, _ in bodies] == [("POST", f"{url}/takedown/pictures")]
    for data in pictures:
        for start in (0, len(data) // 2, len(data) - 64):
            chunk = data[start : start + 64]
            assert all(chunk not in b and base64.b64encode(chunk)[:40] not in b for _, _, b in bodies)
    assert len(bodies[0][2]) < 32_000  # 20 lines of hashes and a declaration
    form = dict(httpx.QueryParams(bodies[0][2].decode()))
    assert sorted(form) == sorted(
        ["csrf_token", "form_id", "pictures", "reporter", "good_faith", "explanation", "signature", "contact_email"]
    )
    assert form["pictures"].splitlines()[0] == picture_line(pictures[0])  # chromium decoded as Pillow did

    # The sweep: the two stored copies reach review, on the request's clock.
    _run_jobs(live_server)
    with live_server.database.unit_of_work(write=False) as db:
        notice = db.execute(sa.select(Notice).where(Notice.tracking_code == code.replace(" ", ""))).scalar_one()
        found = (
            db.execute(
                sa.select(PlatformContent.platform_id)
                .join(NoticeItem, NoticeItem.content_id == PlatformContent.id)
                .where(NoticeItem.notice_id == notice.id)
            )
            .scalars()
            .all()
        )
        assert sorted(found) == ["stored-exact", "stored-mirror"]
        tid = (
            db.execute(
                sa.select(LegalTrack)
                .join(NoticeItem, NoticeItem.case_id == LegalTrack.case_id)
                .where(NoticeItem.notice_id == notice.id, LegalTrack.kind == "take_it_down")
            )
            .scalars()
            .all()
        )
        assert len(tid) == 2 and all(t.received_at == notice.received_at for t in tid)

    # Later uploads of edited copies of picture 5: held, and in the review queue.
    live_server.app.state.match_engine.catch_up()
    img = Image.open(paths[5]).convert("RGB")
    w, h = img.size
    edits = {
        "mirrored": encode(ImageOps.mirror(img), "JPEG", quality=80),
        "bordered": encode(ImageOps.expand(img, border=int(w * 0.05), fill=(0, 0, 0)), "JPEG", quality=85),
        "cropped": encode(img.crop((0, 0, w - int(w * 0.03), h)), "PNG"),
    }
    for label, data in edits.items():
        answer = _scan(url, key, f"later-{label}", data)
        assert answer["verdict"] == "hold", (label, answer)
    make_staff(live_server.database, "mo", "moderator")
    token = httpx.post(f"{url}/v1/auth/sign-in", json={"username": "mo", "password": PASSWORD}).json()["token"]
    queue = httpx.get(f"{url}/v1/queue", headers={"Authorization": f"Bearer {token}"}).json()
    with live_server.database.unit_of_work(write=False) as db:
        held = set(
            db.execute(
                sa.select(NoticeItem.case_id)
                .join(PlatformContent, PlatformContent.id == NoticeItem.content_id)
                .where(PlatformContent.platform_id.like("later-%"))
            ).scalars()
        )
        assert held and all(db.get(Case, c).state == "open" for c in held)
    queued = {row["id"] for row in queue}
    assert held <= queued, (held, queue)

    # Withdrawal in the browser, with the code: every hash disabled, the sweep kept.
    page.goto(f"{url}/takedown/pictures/withdraw")
    page.fill("#f-code", code)
    page.check("#f-confirm")
    check_page(page, "ondevice-withdraw")
    page.click("button:has-text('Withdraw the fingerprints')")
    page.wait_for_selector("h1:has-text('The fingerprints are withdrawn')")
    check_page(page, "ondevice-withdrawn")
    with live_server.database.unit_of_work(write=False) as db:
        submission = db.execute(sa.select(HashSubmission)).scalar_one()
        assert submission.state == "withdrawn" and submission.sweep["copies"] == 2
        assert (
            db.execute(
                sa.select(BankEntry).where(BankEntry.bank_id == submission.bank_id, BankEntry.enabled.is_(True))
            ).first()
            is None
        )
    live_server.app.state.match_engine.catch_up()
    assert (
        _scan(url, key, "after-withdrawal", encode(ImageOps.mirror(Image.open(paths[7])), "JPEG"))["verdict"] == "allow"
    )


def test_without_javascript_the_page_says_what_it_needs_and_offers_the_address_form(live_server, browser) -> None:
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    pg = context.new_page()
    try:
        pg.goto(f"{live_server.url}/takedown/pictures")
        assert pg.locator("#no-script").is_visible()
        assert "This page needs JavaScript" in pg.inner_text("#no-script")
        assert pg.locator("#ondevice").is_hidden()  # no picker that could not work
        assert pg.get_attribute("#no-script a[href='/takedown']", "href") == "/takedown"
        screenshot(pg, "ondevice-no-javascript")
    finally:
        context.close()


def test_the_worker_may_not_reach_the_network(live_server) -> None:
    """The script that reads the pictures is served with its own policy: nothing to connect to."""
    r = httpx.get(f"{live_server.url}/static/ondevice/worker.js")
    assert r.status_code == 200
    assert r.headers["content-security-policy"] == "default-src 'none'; script-src 'self'"


def test_a_flat_picture_is_refused_in_the_browser_with_a_clear_message(live_server, page, tmp_path: Path) -> None:
    flat = tmp_path / "blank.png"
    flat.write_bytes(encode(Image.new("RGB", (300, 200), (240, 240, 240)), "PNG"))
    page.goto(f"{live_server.url}/takedown/pictures")
    page.set_input_files("#pick-files", [str(flat)])
    page.wait_for_selector("#picture-list li.picture-refused")
    assert "too plain to fingerprint reliably (quality 0 of 100" in page.inner_text("#picture-list")
    assert page.input_value("#f-pictures") == ""
    page.click("#send")  # nothing to send: the page says so and stays
    assert "Choose at least one picture" in page.inner_text("#hash-status")
    assert page.url.endswith("/takedown/pictures")
    screenshot(page, "ondevice-flat-refused")
