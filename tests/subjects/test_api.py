"""The platform registers and reads its content and accounts by its own ids over HTTP."""

from __future__ import annotations

from staydown.db import Database
from tests.helpers import auth, make_key
from tests.helpers import auth as _auth


def test_put_and_get_content_and_account(client, api_key: str) -> None:
    h = auth(api_key)
    r = client.put(
        "/v1/content/post-1",
        headers=h,
        json={
            "kind": "image",
            "url": "https://forum.example/p/1",
            "account": {"id": "u-1", "handle": "@one"},
            "created_at": "2026-05-01T10:00:00Z",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (
        body["id"] == "post-1"
        and body["account"]["id"] == "u-1"
        and body["created_at"].startswith("2026-05-01T10:00:00")
    )
    assert client.get("/v1/content/post-1", headers=h).json()["kind"] == "image"
    r = client.put("/v1/accounts/u-1", headers=h, json={"status": "suspended_by_platform"})
    assert r.json()["status"] == "suspended_by_platform"
    assert client.get("/v1/accounts/u-1", headers=h).json()["handle"] == "@one"


def test_unknown_ids_and_bad_bodies(client, api_key: str) -> None:
    h = auth(api_key)
    r = client.get("/v1/content/nope", headers=h)
    assert r.status_code == 404 and "nope" in r.json()["message"]
    r = client.put("/v1/content/x", headers=h, json={"kind": "hologram"})
    assert r.status_code == 422 and "kind" in r.json()["message"]
    r = client.put("/v1/content/x", headers=h, json={"created_at": "2026-05-01T10:00:00"})
    assert r.status_code == 422 and "created_at" in r.json()["message"]
    r = client.put("/v1/content/" + "x" * 201, headers=h, json={})
    assert r.status_code == 422


def test_subject_writes_need_the_scope(client, database: Database) -> None:
    reader = make_key(database, ["subjects:read"])
    r = client.put("/v1/content/a", headers=auth(reader), json={})
    assert r.status_code == 403 and "subjects:write" in r.json()["message"]


def test_platform_ids_with_slashes(client, api_key: str) -> None:
    h = auth(api_key)
    assert client.put("/v1/content/board/7/post/9", headers=h, json={"kind": "image"}).status_code == 200
    assert client.get("/v1/content/board/7/post/9", headers=h).json()["id"] == "board/7/post/9"


def test_csam3_content_visibility_is_registered_checked_and_remembered(client, api_key: str) -> None:
    """Who could see the content is what a report's publiclyAvailable rests on: registered by the
    platform, validated, audited as a change, and "was public" survives a later change to private."""

    headers = _auth(api_key)
    r = client.put("/v1/content/post-v1", headers=headers, json={"kind": "image", "visibility": "public"})
    assert r.status_code == 200, r.text
    assert r.json()["visibility"] == "public" and r.json()["public_since"]
    r = client.put("/v1/content/post-v1", headers=headers, json={"visibility": "private"})
    assert r.json()["visibility"] == "private" and r.json()["public_since"], "it was public once"
    r = client.put("/v1/content/post-v1", headers=headers, json={"visibility": "to everyone"})
    assert r.status_code == 422 and "visibility" in r.text
    r = client.put("/v1/content/post-v2", headers=headers, json={})
    assert r.json()["visibility"] is None and r.json()["public_since"] is None
