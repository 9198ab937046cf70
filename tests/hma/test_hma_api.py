"""The HMA-compatible API (`/hma`): the requests of HMA's own API tests (OpenMediaMatch's
test_api.py, test_api_banks.py, test_match_api.py, test_e2e_workflow.py and test_hashing.py in
facebook/ThreatExchange), rewritten against staydown, get the answers HMA gives.

Where HMA's answer rests on its own storage (content ids counted per item from 1) the test asks
for the id the same request got when it banked the item; the hashes HMA would compute come from
python-threatexchange's own hasher. HMA's exchange tests are in test_hma_exchanges.py; those that
need its scheduler are left out.
"""

from __future__ import annotations

import http.server
import io
import random
import socketserver
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from PIL import Image

from staydown.actors import SYSTEM
from staydown.audit.models import AuditEvent
from staydown.db import Database
from staydown.hma.actions import reenable_expired
from staydown.matching.banks import create_bank as create
from staydown.matching.models import BankEntry
from tests.helpers import auth, make_key

threatexchange = pytest.importorskip("threatexchange")
from threatexchange.signal_type.md5 import VideoMD5Signal  # noqa: E402
from threatexchange.signal_type.pdq.signal import PdqSignal  # noqa: E402

CURATOR = ["banks:read", "banks:write", "scan", "match"]


def _checkerboard(cell: int) -> bytes:
    """HMA's test images: two checkerboards whose cells differ, so their PDQ hashes differ."""
    img = Image.new("RGB", (128, 128))
    px = img.load()
    assert px is not None
    for x in range(128):
        for y in range(128):
            px[x, y] = (255, 255, 255) if (x // cell + y // cell) % 2 else (0, 0, 0)
    out = io.BytesIO()
    img.save(out, format="JPEG")
    return out.getvalue()


IMAGES = {"/image1.jpg": _checkerboard(8), "/image2.jpg": _checkerboard(16)}


def hma_pdq(data: bytes, tmp_path) -> str:
    """What HMA's hasher (python-threatexchange's PdqSignal) makes of the file."""
    path = tmp_path / f"img{random.random()}.jpg"
    path.write_bytes(data)
    return PdqSignal.hash_from_file(path)


@pytest.fixture
def image_server(app) -> Iterator[str]:
    big = b"\xff" * (app.state.settings.max_upload_bytes + 10)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = IMAGES.get(self.path, big if self.path == "/big.jpg" else None)
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # The scan allow-list applies to HMA's URL hashing too; this local server is on it.
    app.state.settings.scan_url_allowlist = ["127.0.0.1"]
    app.state.settings.scan_url_allow_private = True
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def h(database: Database) -> dict[str, str]:
    return auth(make_key(database, CURATOR))


def create_bank(client, h, name: str) -> None:
    r = client.post("/hma/c/banks", headers=h, json={"name": name})
    assert r.status_code == 201, r.text
    assert r.json() == {"matching_enabled_ratio": 1.0, "name": name}


def add_image(client, h, bank: str, url: str, **kw) -> dict:
    r = client.post(f"/hma/c/bank/{bank}/content?url={url}&content_type=photo", headers=h, **kw)
    assert r.status_code == 200, r.text
    return r.json()


def build_index(app) -> None:
    """HMA's tests build the index by hand; staydown's follower would within its interval."""
    app.state.match_engine.catch_up()


# -- banks (test_api_banks.py) ------------------------------------------------------------------


def test_banks_empty_index(client, h) -> None:
    r = client.get("/hma/c/banks", headers=h)
    assert r.status_code == 200 and r.json() == []


def test_banks_create_checks_hma_names_and_lists_the_bank(client, h) -> None:
    assert client.post("/hma/c/banks", headers=h, json={"name": "01_TEST_BANK"}).status_code == 400
    r = client.post("/hma/c/banks", headers=h, json={"name": "my_test_bank"})
    assert r.status_code == 400 and "A-Z" in r.json()["message"]
    r = client.post("/hma/c/banks", headers=h, json={"name": "MY_TEST_BANK_01"})
    assert r.status_code == 201
    assert r.json() == {"matching_enabled_ratio": 1.0, "name": "MY_TEST_BANK_01"}
    assert client.get("/hma/c/banks", headers=h).json() == [r.json()]
    # A name taken is HMA's 403; the bank is staydown's own, under the lower-case name.
    assert client.post("/hma/c/banks", headers=h, json={"name": "MY_TEST_BANK_01"}).status_code == 403
    assert client.get("/v1/banks", headers=h).json()[0]["name"] == "my_test_bank_01"


def test_banks_update_rename_enable_and_ratio(client, h) -> None:
    create_bank(client, h, "MY_TEST_BANK")
    assert client.put("/hma/c/bank/MY_TEST_BANK", headers=h, json={"name": "1_invalid_name"}).status_code == 400
    r = client.put("/hma/c/bank/MY_TEST_BANK", headers=h, json={"name": "MY_TEST_BANK_RENAMED"})
    assert r.status_code == 200 and r.json()["name"] == "MY_TEST_BANK_RENAMED"
    r = client.put("/hma/c/bank/MY_TEST_BANK_RENAMED", headers=h, json={"enabled": False})
    assert r.status_code == 200 and r.json()["matching_enabled_ratio"] == 0
    r = client.put("/hma/c/bank/MY_TEST_BANK_RENAMED", headers=h, json={"enabled_ratio": 0.5})
    assert r.status_code == 200 and r.json()["matching_enabled_ratio"] == 0.5
    assert client.get("/hma/c/banks", headers=h).json() == [
        {"name": "MY_TEST_BANK_RENAMED", "matching_enabled_ratio": 0.5}
    ]
    assert client.get("/hma/c/bank/MY_TEST_BANK", headers=h).status_code == 404


def test_banks_delete_and_delete_unknown(client, h) -> None:
    create_bank(client, h, "MY_TEST_BANK")
    assert client.delete("/hma/c/bank/MY_TEST_BANK", headers=h).status_code == 200
    assert client.delete("/hma/c/bank/MY_TEST_BANK", headers=h).status_code == 200  # as HMA: no such bank is fine
    assert client.get("/hma/c/banks", headers=h).json() == []


def test_bank_holding_entries_is_disabled_not_deleted(client, h) -> None:
    """Where staydown departs from HMA: entries explain past matches, so their bank stays."""
    create_bank(client, h, "KEPT")
    assert client.post("/hma/c/bank/KEPT/signal", headers=h, json={"pdq": "0" * 64}).status_code == 200
    r = client.delete("/hma/c/bank/KEPT", headers=h)
    assert r.status_code == 403 and "disable the bank instead" in r.json()["message"]


def test_bank_content_add_get_and_404(client, h, image_server, tmp_path) -> None:
    url = f"{image_server}/image1.jpg"
    assert client.get("/hma/c/bank/TEST_BANK_GET/content/1", headers=h).status_code == 404  # no bank
    create_bank(client, h, "TEST_BANK_GET")
    assert client.get("/hma/c/bank/TEST_BANK_GET/content/1", headers=h).status_code == 404  # no content
    added = add_image(client, h, "TEST_BANK_GET", url)
    # HMA's answer: the item's id (the first in a fresh store) and the PDQ its own hasher computes.
    assert added == {"id": 1, "signals": {"pdq": hma_pdq(IMAGES["/image1.jpg"], tmp_path)}}
    r = client.get(f"/hma/c/bank/TEST_BANK_GET/content/{added['id']}", headers=h)
    assert r.status_code == 200 and r.json()["id"] == added["id"]
    assert "signals" not in r.json() and "metadata" not in r.json() and "note" not in r.json()
    r = client.get(f"/hma/c/bank/TEST_BANK_GET/content/{added['id']}?include_signals=true", headers=h)
    assert r.json()["signals"]["pdq"] == added["signals"]["pdq"]


def test_bank_update_content_disable_until(client, h, image_server, database: Database) -> None:
    create_bank(client, h, "TEST_BANK_UPDATE")
    content_id = add_image(client, h, "TEST_BANK_UPDATE", f"{image_server}/image1.jpg")["id"]
    until = int((datetime.now() + timedelta(days=365)).timestamp())
    r = client.put(f"/hma/c/bank/TEST_BANK_UPDATE/content/{content_id}", headers=h, json={"disable_until_ts": until})
    assert r.status_code == 200, r.text
    assert r.json()["disable_until_ts"] == until
    with database.unit_of_work(write=False) as db:
        entry = db.get_one(BankEntry, content_id)
        assert not entry.enabled and "through the HMA API" in (entry.disabled_reason or "")
    r = client.put(
        f"/hma/c/bank/TEST_BANK_UPDATE/content/{content_id}", headers=h, json={"disable_until_ts": 9999999999}
    )
    assert r.status_code == 400 and "5 years" in r.json()["message"]


def test_disabled_until_a_past_time_matches_again(client, h, app, database: Database) -> None:
    create_bank(client, h, "TIMED")
    content_id = client.post("/hma/c/bank/TIMED/signal", headers=h, json={"pdq": "f" * 64}).json()["id"]
    now = database.clock.now().timestamp()
    client.put(f"/hma/c/bank/TIMED/content/{content_id}", headers=h, json={"disable_until_ts": int(now) + 60})
    build_index(app)
    assert client.get(f"/hma/m/lookup?signal_type=pdq&signal={'f' * 64}", headers=h).json() == {}
    with database.unit_of_work() as db:
        assert reenable_expired(db, actor=SYSTEM, at=now + 61) == 1
    build_index(app)
    assert client.get(f"/hma/m/lookup?signal_type=pdq&signal={'f' * 64}", headers=h).json() == {
        "TIMED": [{"bank_content_id": content_id, "distance": "0"}]
    }


def test_banks_delete_content_disables_it(client, h, image_server, app, database: Database) -> None:
    create_bank(client, h, "NEW_BANK")
    added = add_image(client, h, "NEW_BANK", f"{image_server}/image1.jpg")
    r = client.delete(f"/hma/c/bank/NEW_BANK/content/{added['id']}", headers=h)
    assert r.status_code == 200 and r.json() == {"deleted": 1}
    assert client.delete(f"/hma/c/bank/NEW_BANK/content/{added['id']}", headers=h).json() == {"deleted": 0}
    assert client.get(f"/hma/c/bank/NEW_BANK/content/{added['id']}", headers=h).status_code == 404
    build_index(app)
    pdq = added["signals"]["pdq"]
    assert client.get(f"/hma/m/raw_lookup?signal_type=pdq&signal={pdq}", headers=h).json() == {"matches": []}
    with database.unit_of_work(write=False) as db:
        entries = db.execute(sa.select(BankEntry)).scalars().all()
        assert entries and not any(e.enabled for e in entries)  # kept, disabled: the item, its digests, variants
        (event,) = db.execute(
            sa.select(AuditEvent).where(
                AuditEvent.tag == "matching:entry:disable", AuditEvent.subject_id == str(added["id"])
            )
        ).scalars()
        assert event.data["reason"] == "removed through the HMA API" and event.actor_kind == "api_client"
    # Banked again, it is the same item, back in matching.
    assert add_image(client, h, "NEW_BANK", f"{image_server}/image1.jpg")["id"] == added["id"]
    build_index(app)
    assert client.get(f"/hma/m/raw_lookup?signal_type=pdq&signal={pdq}", headers=h).json() == {"matches": [added["id"]]}


def test_banks_add_metadata(client, h, image_server) -> None:
    create_bank(client, h, "NEW_BANK")
    url = f"/hma/c/bank/NEW_BANK/content?url={image_server}/image1.jpg&content_type=photo"
    r = client.post(url, headers=h, json={"metadata": {"invalid_metadata": 5}})
    assert r.status_code == 400 and "invalid_metadata" in r.json()["message"]
    r = client.post(url, headers=h, json={"metadata": {"content_id": "1197433091", "json": {"asdf": {}}}})
    assert r.status_code == 200, r.text


def test_bank_content_returns_stored_metadata_unless_asked_not_to(client, h, image_server) -> None:
    create_bank(client, h, "TEST_BANK_METADATA")
    metadata = {
        "content_id": "ext-id-123",
        "content_uri": "https://example.com/item/123",
        "json": {"source": "test", "nested": {"key": "value"}},
    }
    content_id = add_image(client, h, "TEST_BANK_METADATA", f"{image_server}/image2.jpg", json={"metadata": metadata})[
        "id"
    ]
    got = client.get(f"/hma/c/bank/TEST_BANK_METADATA/content/{content_id}", headers=h).json()
    assert got["metadata"] == metadata
    got = client.get(f"/hma/c/bank/TEST_BANK_METADATA/content/{content_id}?include_metadata=false", headers=h).json()
    assert "metadata" not in got


def test_bank_content_notes(client, h, image_server) -> None:
    create_bank(client, h, "TEST_BANK_NOTE")
    url = f"{image_server}/image1.jpg"
    r = client.post(
        f"/hma/c/bank/TEST_BANK_NOTE/content?url={url}&content_type=photo", headers=h, json={"note": "x" * 256}
    )
    assert r.status_code == 400 and "255" in r.json()["message"]
    content_id = add_image(client, h, "TEST_BANK_NOTE", url, json={"note": "Reported by user X"})["id"]
    path = f"/hma/c/bank/TEST_BANK_NOTE/content/{content_id}"
    assert client.get(path, headers=h).json()["note"] == "Reported by user X"
    for note in ("Initial note", "Updated note"):
        assert client.put(path, headers=h, json={"note": note}).status_code == 200
        assert client.get(path, headers=h).json()["note"] == note
    assert client.put(path, headers=h, json={"note": ""}).status_code == 200
    assert "note" not in client.get(path, headers=h).json()
    r = client.post(
        "/hma/c/bank/TEST_BANK_NOTE/signal", headers=h, json={"pdq": "0" * 64, "note": "Hash from campaign ABC"}
    )
    assert r.status_code == 200, r.text
    assert (
        client.get(f"/hma/c/bank/TEST_BANK_NOTE/content/{r.json()['id']}", headers=h).json()["note"]
        == "Hash from campaign ABC"
    )


def test_banks_add_hash_index(client, h, image_server, app) -> None:
    create_bank(client, h, "NEW_BANK")
    first = add_image(client, h, "NEW_BANK", f"{image_server}/image1.jpg")
    create_bank(client, h, "NEW_BANK_2")
    second = add_image(client, h, "NEW_BANK", f"{image_server}/image2.jpg")
    build_index(app)
    for added in (first, second):
        r = client.get(f"/hma/m/raw_lookup?signal_type=pdq&signal={added['signals']['pdq']}", headers=h)
        assert r.status_code == 200 and r.json() == {"matches": [added["id"]]}


# -- matching (test_match_api.py, test_e2e_workflow.py, test_api.py) -------------------------------


def test_add_hashes_and_find_match(client, h, app) -> None:
    create_bank(client, h, "TEST_BANK")
    hashes = PdqSignal.get_examples()
    for pdq in hashes:
        assert client.post("/hma/c/bank/TEST_BANK/signal", headers=h, json={"pdq": pdq}).status_code == 200
    build_index(app)
    r = client.get("/hma/m/index/status?signal_type=pdq", headers=h)
    assert r.status_code == 200
    assert r.json()["pdq"]["present"] is True and r.json()["pdq"]["size"] == len(hashes)
    r = client.get(f"/hma/m/lookup?signal_type=pdq&signal={hashes[-1]}", headers=h)
    assert r.status_code == 200 and r.json() == {"TEST_BANK": [{"bank_content_id": 16, "distance": "0"}]}
    r = client.get(f"/hma/m/lookup?signal_type=pdq&signal={'5' * 64}", headers=h)
    assert r.status_code == 200 and r.json() == {}


@pytest.fixture
def sample_bank(client, h, app) -> None:
    """HMA fills its SAMPLE bank from the sample exchange; here the same signals go in directly."""
    create_bank(client, h, "SAMPLE")
    for pdq in PdqSignal.get_examples():
        client.post("/hma/c/bank/SAMPLE/signal", headers=h, json={"pdq": pdq})
    for md5 in VideoMD5Signal.get_examples():
        client.post("/hma/c/bank/SAMPLE/signal", headers=h, json={"video_md5": md5})
    build_index(app)


@pytest.mark.parametrize("signal_type, signal_cls", [("pdq", PdqSignal), ("video_md5", VideoMD5Signal)])
def test_raw_lookups_and_lookups(client, h, sample_bank, signal_type, signal_cls) -> None:
    query = {"signal": signal_cls.get_examples()[0], "signal_type": signal_type}
    r = client.get("/hma/m/raw_lookup", headers=h, params=query)
    assert r.status_code == 200
    count = len(r.json()["matches"])
    assert count >= 1
    r = client.get("/hma/m/raw_lookup", headers=h, params={**query, "include_distance": True})
    assert len(r.json()["matches"]) == count
    assert all(set(m) == {"bank_content_id", "distance"} for m in r.json()["matches"])
    r = client.get("/hma/m/lookup", headers=h, params=query)
    assert r.status_code == 200 and list(r.json()) == ["SAMPLE"] and len(r.json()["SAMPLE"]) > 0


@pytest.fixture
def multi_bank(client, h, app) -> None:
    for name in ("BANK_A", "BANK_B", "BANK_C"):
        create_bank(client, h, name)
        client.post(f"/hma/c/bank/{name}/signal", headers=h, json={"pdq": PdqSignal.get_examples()[0]})
    build_index(app)


@pytest.mark.parametrize("banks, expected", [(None, 3), ("BANK_A", 1), ("BANK_A,BANK_B", 2), ("NON_EXISTENT_BANK", 0)])
def test_raw_lookup_with_bank_filter(client, h, multi_bank, banks, expected) -> None:
    query = {"signal": PdqSignal.get_examples()[0], "signal_type": "pdq", **({"banks": banks} if banks else {})}
    r = client.get("/hma/m/raw_lookup", headers=h, params=query)
    assert r.status_code == 200 and len(r.json()["matches"]) == expected
    r = client.get("/hma/m/raw_lookup", headers=h, params={**query, "include_distance": True})
    assert len(r.json()["matches"]) == expected
    assert all("bank_content_id" in m and "distance" in m for m in r.json()["matches"])


@pytest.mark.parametrize(
    "banks, expected",
    [
        (None, {"BANK_A", "BANK_B", "BANK_C"}),
        ("BANK_A", {"BANK_A"}),
        ("BANK_A,BANK_C", {"BANK_A", "BANK_C"}),
        ("NON_EXISTENT_BANK", set()),
    ],
)
def test_lookup_with_bank_filter(client, h, multi_bank, banks, expected) -> None:
    query = {"signal": PdqSignal.get_examples()[0], "signal_type": "pdq", **({"banks": banks} if banks else {})}
    r = client.get("/hma/m/lookup", headers=h, params=query)
    assert r.status_code == 200 and set(r.json()) == expected
    assert all(len(v) > 0 for v in r.json().values())


def test_lookup_by_url_and_by_upload(client, h, image_server, app) -> None:
    create_bank(client, h, "PHOTOS")
    added = add_image(client, h, "PHOTOS", f"{image_server}/image1.jpg")
    build_index(app)
    r = client.get(f"/hma/m/lookup?url={image_server}/image1.jpg", headers=h)
    assert r.status_code == 200, r.text
    assert r.json() == {"pdq": {"PHOTOS": [{"bank_content_id": added["id"], "distance": "0"}]}}
    r = client.post("/hma/m/lookup", headers=h, files={"photo": ("a.jpg", IMAGES["/image1.jpg"], "image/jpeg")})
    assert r.status_code == 200 and r.json()["pdq"]["PHOTOS"][0]["bank_content_id"] == added["id"]
    # As HMA's test: an image sent as a "video" is looked up by its MD5, which the item also holds.
    r = client.post("/hma/m/lookup", headers=h, files={"video": ("a.jpg", IMAGES["/image1.jpg"], "image/jpeg")})
    assert r.status_code == 200 and r.json() == {
        "video_md5": {"PHOTOS": [{"bank_content_id": added["id"], "distance": "0"}]}
    }


def test_lookup_of_media_needs_the_scan_scope(client, database: Database, image_server) -> None:
    """HMA's "hasher role missing" answers 403; here the key without `scan` gets it."""
    h = auth(make_key(database, ["match"]))
    assert client.get(f"/hma/m/lookup?url={image_server}/image1.jpg", headers=h).status_code == 403
    r = client.post("/hma/m/lookup", headers=h, files={"file": ("a.jpg", IMAGES["/image1.jpg"], "image/jpeg")})
    assert r.status_code == 403
    assert client.get("/hma/m/lookup?signal_type=pdq&signal=" + "0" * 64).status_code == 401


def test_scopes_are_those_of_the_v1_routes(client, database: Database) -> None:
    reader = auth(make_key(database, ["banks:read"]))
    assert client.get("/hma/c/banks", headers=reader).status_code == 200
    assert client.post("/hma/c/banks", headers=reader, json={"name": "NOPE"}).status_code == 403
    assert client.get("/hma/m/raw_lookup?signal_type=pdq&signal=" + "0" * 64, headers=reader).status_code == 403
    default = auth(make_key(database, ["scan", "match"]))
    assert client.get("/hma/c/banks", headers=default).status_code == 403


def test_coinflip_applies_to_hma_lookups_never_to_scans(client, h, app) -> None:
    create_bank(client, h, "HALF")
    pdq = PdqSignal.get_examples()[3]
    content_id = client.post("/hma/c/bank/HALF/signal", headers=h, json={"pdq": pdq}).json()["id"]
    client.put("/hma/c/bank/HALF", headers=h, json={"enabled_ratio": 0.5})
    build_index(app)
    seeds = {s: random.Random(s).random() for s in ("a", "b", "c", "d", "e", "f")}
    hit = next(s for s, v in seeds.items() if v <= 0.5)
    miss = next(s for s, v in seeds.items() if v > 0.5)
    q = f"/hma/m/lookup?signal_type=pdq&signal={pdq}"
    assert client.get(f"{q}&seed={hit}", headers=h).json() == {
        "HALF": [{"bank_content_id": content_id, "distance": "0"}]
    }
    assert client.get(f"{q}&seed={miss}", headers=h).json() == {}
    assert client.get(f"{q}&seed={miss}&bypass_coinflip=true", headers=h).json() != {}
    r = client.post("/v1/match", headers=h, json={"pdq": [{"hash": pdq}]})
    assert [m["entry_id"] for m in r.json()["matches"]] == [content_id]


def test_compare_hashes(client, h) -> None:
    specimen1 = "facd8bcb2a49bcebdec1985298d5fe84bcd006c187c598c720c3c087b3fdb318"
    specimen2 = "facd8bcb2a49bcebdec1985228d5ae84bcd006c187c598c720c2b087b3fdb318"
    r = client.post("/hma/m/compare", headers=h, json={"pdq": [specimen1, specimen2]})
    assert r.json() == {"pdq": [True, {"distance": 9}]}
    bad: object
    for bad in (
        ["banana"],
        {"pdq": "banana"},
        {"pdq": []},
        {"pdq": ["banana", "banana"]},
        {"pdq": [specimen1, specimen2, specimen1]},
    ):
        assert client.post("/hma/m/compare", headers=h, json=bad).status_code == 400


def test_status(client) -> None:
    r = client.get("/hma/status")
    assert r.status_code == 200 and r.text == "I-AM-ALIVE"


# -- hashing (test_hashing.py) ----------------------------------------------------------------------


def test_hash_by_url_and_upload(client, h, image_server, tmp_path) -> None:
    expected = hma_pdq(IMAGES["/image2.jpg"], tmp_path)
    r = client.get(f"/hma/h/hash?url={image_server}/image2.jpg", headers=h)
    assert r.status_code == 200 and r.json() == {"pdq": expected}
    r = client.post("/hma/h/hash", headers=h, files={"photo": ("b.jpg", IMAGES["/image2.jpg"], "image/jpeg")})
    assert r.json() == {"pdq": expected}
    r = client.post("/hma/h/hash", headers=h, files={"video": ("b.jpg", IMAGES["/image2.jpg"], "image/jpeg")})
    assert r.json() == {"video_md5": VideoMD5Signal.hash_from_bytes(IMAGES["/image2.jpg"])}
    r = client.post("/hma/h/hash", headers=h, files={"audio": ("b.jpg", IMAGES["/image2.jpg"], "image/jpeg")})
    assert r.status_code == 400 and "content_type" in r.json()["message"]


def test_hash_refuses_urls_off_the_allow_list_and_content_too_large(client, h, image_server, app) -> None:
    for url in ("file:///etc/passwd", "ftp://example.com/x.jpg", "http://example.com:abc/x"):
        r = client.get(f"/hma/h/hash?url={url}", headers=h)
        assert r.status_code == 400, (url, r.text)
    app.state.settings.scan_url_allowlist = ["cdn.example.com"]
    assert client.get(f"/hma/h/hash?url={image_server}/image1.jpg", headers=h).status_code == 400
    app.state.settings.scan_url_allowlist = ["127.0.0.1"]
    r = client.get(f"/hma/h/hash?url={image_server}/big.jpg", headers=h)
    assert r.status_code == 413


def test_own_bank_keeps_its_name(client, h, database: Database) -> None:
    with database.unit_of_work() as db:
        create(db, actor=SYSTEM, name="own-csam", source="own", permitted_purpose="stay-down", policy_id="csam")
    assert client.get("/hma/c/banks", headers=h).json() == [{"name": "OWN-CSAM", "matching_enabled_ratio": 1.0}]
    r = client.put("/hma/c/bank/OWN-CSAM", headers=h, json={"name": "OTHER"})
    assert r.status_code == 403 and "stay-down bank" in r.json()["message"]
