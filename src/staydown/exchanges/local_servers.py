"""Local stand-ins for the hash-sharing services (NCMEC's hash sharing API, StopNCII, Meta's
ThreatExchange, Tech Against Terrorism), speaking each protocol as python-threatexchange's client and its tests read it,
for tests and demos: the real services cannot be reached from a development machine.

NCMEC: XML over Basic auth, `GET /v2/entries?from=&to=` paged by a relative `next` link, deletions
as `deletedImage`/`deletedVideo`, feedback by `PUT /v2/entries/{esp}/{id}/{type}/feedback`
(threatexchange's `clients/ncmec/tests/data.py`, NCMEC's hash sharing v2 documentation).
StopNCII: JSON, `GET /FetchHashes` with `x-functions-key` and `Ocp-Apim-Subscription-Key`, paged by
`nextPageToken`, checkpointed by `nextSetTimestamp`; `POST /SubmitFeedback`.
ThreatExchange: Graph API JSON, `GET /{privacy_group}/threat_updates/` with `access_token`, paged by
an absolute `paging.next`; reactions and uploads by POST; a bad token is HTTP 400 OAuthException 190.
Tech Against Terrorism: JSON, `POST /token-auth/tcap/` (form `username`, `password`) answers a token,
sent as `Authorization: Bearer` to `GET /api/hash-list/v2/all?order=asc&after=TS,ID`, paged by
`limit`/`offset` with an absolute `next` link, each page carrying the `checkpoint` of its last
record (threatexchange's `clients/techagainstterrorism/api.py` and its tests).

Each app keeps every request it served (`state.requests`) so a test can see what the client asked.
Run one: `python -m staydown.exchanges.local_servers ncmec --port 8126`.
"""

from __future__ import annotations

import argparse
import base64
import os
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

NCMEC_NS = "https://hashsharing.ncmec.org/hashsharing/v2"


@dataclass
class ServerState:
    credentials: dict[str, str]
    page_size: int = 1000
    records: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def log(self, request: Request) -> None:
        with self.lock:
            self.requests.append((request.method, request.url.path, dict(request.query_params)))


# -- NCMEC hash sharing (XML) ----------------------------------------------------------------------


def _ncmec_time(text: str) -> int:
    # threatexchange formats `from`/`to` from the local clock with a literal Z; read them the same way.
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").timestamp())


def _utc(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ncmec_app(*, username: str, password: str, page_size: int = 1000) -> Starlette:
    """`state.records`: the entry stream, each `{id, member_id, type: image|video, ts, deleted,
    classification, fingerprints: {md5, pdq, ...}}`; a deletion or update is a later record."""
    state = ServerState({"user": username, "password": password}, page_size=page_size)

    def authorised(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
        return user == username and pw == password

    def refuse() -> Response:
        return Response(
            "<error>Unauthorized</error>",
            status_code=401,
            media_type="application/xml",
            headers={"WWW-Authenticate": 'Basic realm="hashsharing"'},
        )

    async def status(request: Request) -> Response:
        state.log(request)
        if not authorised(request):
            return refuse()
        return Response(
            f'<?xml version="1.0" encoding="UTF-8"?><status xmlns="{NCMEC_NS}"><ipAddress>127.0.0.1'
            f'</ipAddress><username>{escape(username)}</username><member id="1">Local ESP</member>'
            "</status>",
            media_type="application/xml",
        )

    async def entries(request: Request) -> Response:
        state.log(request)
        if not authorised(request):
            return refuse()
        q = request.query_params
        start_ts, end_ts = _ncmec_time(q["from"]), _ncmec_time(q["to"])
        with state.lock:
            matching = [r for r in state.records if start_ts <= r["ts"] < end_ts]
        start = int(q.get("start", "1"))
        size = min(int(q.get("size", state.page_size)), state.page_size)
        page = matching[start - 1 : start - 1 + size]
        parts = [f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><queryResult xmlns="{NCMEC_NS}">']
        for kind, plural in (("image", "images"), ("video", "videos")):
            rows = [r for r in page if r["type"] == kind]
            if not rows:
                continue
            parts.append(f'<{plural} count="{len(rows)}" maxTimestamp="{_utc(max(r["ts"] for r in rows))}">')
            for r in rows:
                tag = ("deleted" + kind.capitalize()) if r.get("deleted") else kind
                parts.append(
                    f'<{tag}><member id="{r["member_id"]}">Member {r["member_id"]}</member>'
                    f"<timestamp>{_utc(r['ts'])}</timestamp><id>{escape(r['id'])}</id>"
                )
                if not r.get("deleted"):
                    if r.get("classification"):
                        parts.append(f"<classification>{escape(r['classification'])}</classification>")
                    parts.append(
                        "<fingerprints>"
                        + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in r.get("fingerprints", {}).items())
                        + "</fingerprints>"
                    )
                parts.append(f"</{tag}>")
            parts.append(f"</{plural}>")
        if start - 1 + size < len(matching):
            nxt = "/v2/entries?" + urllib.parse.urlencode(
                {"from": q["from"], "to": q["to"], "start": start + size, "size": size, "max": len(matching)}
            )
            parts.append(f"<paging><next>{escape(nxt)}</next></paging>")
        parts.append("</queryResult>")
        return Response("".join(parts), media_type="application/xml")

    async def reasons(request: Request) -> Response:
        state.log(request)
        if not authorised(request):
            return refuse()
        kind = request.path_params["kind"]
        # threatexchange 1.2.17 reads the reasons from an `availableFeedbackReasons` element under
        # the root (its test data puts them at the root, which that client cannot read): this is the
        # shape its client works with; the root's name is ours.
        return Response(
            f'<?xml version="1.0" encoding="UTF-8"?><feedbackReasons xmlns="{NCMEC_NS}">'
            "<availableFeedbackReasons>"
            f'<reason guid="01234567-abcd-0123-4567-012345678900" name="Not CSAM" type="{kind}"/>'
            "</availableFeedbackReasons></feedbackReasons>",
            media_type="application/xml",
        )

    async def feedback(request: Request) -> Response:
        state.log(request)
        if not authorised(request):
            return refuse()
        body = (await request.body()).decode()
        p = request.path_params
        with state.lock:
            state.received.append({"esp_id": p["esp"], "entry_id": p["entry"], "type": p["kind"], "xml": body})
        return Response(
            f'<?xml version="1.0" encoding="UTF-8"?><submissionResult xmlns="{NCMEC_NS}"/>',
            media_type="application/xml",
        )

    app = Starlette(
        routes=[
            Route("/v2/status", status),
            Route("/v2/entries", entries),
            Route("/v2/feedback/{kind}/reasons", reasons),
            Route("/v2/entries/{esp}/{entry}/{kind}/feedback", feedback, methods=["PUT"]),
        ]
    )
    app.state.exchange = state
    return app


# -- StopNCII (JSON) -------------------------------------------------------------------------------


def stopncii_app(*, fetch_key: str, subscription_key: str, feedback_key: str = "", page_size: int = 800) -> Starlette:
    """`state.records`: `{signalType, hashValue, hashStatus, lastModtimestamp, caseNumbers, CSPFeedbacks}`,
    the current state of each hash (a withdrawn one has hashStatus Withdrawn and a later timestamp)."""
    state = ServerState(
        {"fetch": fetch_key, "subscription": subscription_key, "feedback": feedback_key}, page_size=page_size
    )

    def refused(request: Request, function_key: str) -> Response | None:
        if request.headers.get("Ocp-Apim-Subscription-Key") != subscription_key:
            return JSONResponse(
                {"statusCode": 401, "message": "Access denied due to invalid subscription key."}, status_code=401
            )
        if not function_key or request.headers.get("x-functions-key") != function_key:
            return JSONResponse({"statusCode": 401, "message": "Invalid function key."}, status_code=401)
        return None

    async def fetch_hashes(request: Request) -> Response:
        state.log(request)
        if (refusal := refused(request, fetch_key)) is not None:
            return refusal
        q = request.query_params
        start = int(q.get("startTimestamp", "0"))
        size = min(int(q.get("pageSize", state.page_size)), state.page_size)
        offset = int(q.get("nextPageToken") or 0)
        with state.lock:
            rows = sorted(
                (r for r in state.records if r["lastModtimestamp"] >= start),
                key=lambda r: (r["lastModtimestamp"], r["hashValue"]),
            )
        page = rows[offset : offset + size]
        more = offset + size < len(rows)
        next_set = (
            page[-1]["lastModtimestamp"]
            if more and page
            else (max((r["lastModtimestamp"] for r in rows), default=start - 1) + 1)
        )
        return JSONResponse(
            {
                "count": len(page),
                "nextPageToken": str(offset + size) if more else None,
                "nextSetTimestamp": next_set,
                "hasMoreRecords": more,
                "hashRecords": page,
            }
        )

    async def submit_feedback(request: Request) -> Response:
        state.log(request)
        if (refusal := refused(request, feedback_key)) is not None:
            return refusal
        body = await request.json()
        with state.lock:
            state.received.extend(body.get("hashFeedbacks", []))
        return JSONResponse({"count": body.get("count", 0)})

    app = Starlette(
        routes=[Route("/FetchHashes", fetch_hashes), Route("/SubmitFeedback", submit_feedback, methods=["POST"])]
    )
    app.state.exchange = state
    return app


# -- Meta ThreatExchange (Graph API JSON) ----------------------------------------------------------


def threatexchange_app(*, token: str, page_size: int = 100) -> Starlette:
    """`state.records`: threat_updates items `{id, indicator, type, last_updated, should_delete,
    descriptors: {data: [{id, owner: {id}, status, tags, reactions}]}, privacy_group}`."""
    state = ServerState({"token": token}, page_size=page_size)

    def refused(request: Request) -> Response | None:
        if request.query_params.get("access_token") != token:
            return JSONResponse(
                {
                    "error": {
                        "message": "Invalid OAuth access token - Cannot parse access token",
                        "type": "OAuthException",
                        "code": 190,
                    }
                },
                status_code=400,
            )
        return None

    async def threat_updates(request: Request) -> Response:
        state.log(request)
        if (refusal := refused(request)) is not None:
            return refusal
        q = request.query_params
        group = int(request.path_params["group"])
        start = int(q["start_time"]) if q.get("start_time") else None
        limit = min(int(q.get("limit") or state.page_size), state.page_size)
        after = int(q.get("after") or 0)
        with state.lock:
            rows = sorted(
                (
                    r
                    for r in state.records
                    if r.get("privacy_group") == group and (start is None or r["last_updated"] >= start)
                ),
                key=lambda r: (r["last_updated"], r["id"]),
            )
        page = [{k: v for k, v in r.items() if k != "privacy_group"} for r in rows[after : after + limit]]
        body: dict[str, Any] = {"data": page}
        if after + limit < len(rows):
            params = {"access_token": token, "limit": limit, "after": after + limit, "fields": q.get("fields", "")}
            if start is not None:
                params["start_time"] = start
            body["paging"] = {
                "next": f"{str(request.base_url).rstrip('/')}/{group}/threat_updates/?" + urllib.parse.urlencode(params)
            }
        return JSONResponse(body)

    async def descriptor_post(request: Request) -> Response:
        state.log(request)
        if (refusal := refused(request)) is not None:
            return refusal
        with state.lock:
            state.received.append({"descriptor": request.path_params["descriptor"], **dict(request.query_params)})
        return JSONResponse({"success": True})

    async def upload(request: Request) -> Response:
        state.log(request)
        if (refusal := refused(request)) is not None:
            return refusal
        params = dict(request.query_params)
        missing = [
            k
            for k in ("indicator", "type", "description", "share_level", "status", "privacy_type")
            if not params.get(k)
        ]
        if missing:
            return JSONResponse(
                {"error": {"message": f"missing {', '.join(missing)}", "type": "GraphMethodException", "code": 100}},
                status_code=400,
            )
        with state.lock:
            state.received.append({"upload": params})
            new_id = str(9_000_000 + len(state.received))
        return JSONResponse({"success": True, "id": new_id})

    app = Starlette(
        routes=[
            Route("/threat_descriptors/", upload, methods=["POST"]),
            Route("/{group:int}/threat_updates/", threat_updates),
            Route("/{descriptor}/", descriptor_post, methods=["POST"]),
        ]
    )
    app.state.exchange = state
    return app


# -- Tech Against Terrorism hash list (JSON) ---------------------------------------------------------


def _tat_position(text: str) -> tuple[float, int] | None:
    """TAT's checkpoint `updated_on,id` of a record; the list is ordered by it."""
    if not text:
        return None
    ts, _, id_ = text.partition(",")
    return float(ts), int(id_ or 0)


def tat_app(*, username: str, password: str, page_size: int = 1000) -> Starlette:
    """`state.records`: hash list entries `{id, hash_digest, algorithm: PDQ|MD5, ideology, file_type,
    deleted, updated_on (epoch seconds, float), created_on}`, the current state of each (a deletion or
    change is the same id with `deleted` or new values and a later `updated_on`)."""
    state = ServerState({"username": username, "password": password}, page_size=page_size)
    tokens: set[str] = set()

    async def token_auth(request: Request) -> Response:
        state.log(request)
        form = await request.form()
        if form.get("username") != username or form.get("password") != password:
            # The answer of a Django REST framework token view to wrong credentials.
            return JSONResponse({"non_field_errors": ["Unable to log in with provided credentials."]}, status_code=400)
        token = base64.urlsafe_b64encode(os.urandom(18)).decode()
        with state.lock:
            tokens.add(token)
        return JSONResponse({"user": {"username": username}, "token": token})

    async def hash_list(request: Request) -> Response:
        state.log(request)
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in tokens:
            return JSONResponse({"detail": "Invalid token."}, status_code=401)
        q = request.query_params
        after = _tat_position(q.get("after", ""))
        limit = min(int(q.get("limit") or state.page_size), state.page_size)
        offset = int(q.get("offset") or 0)
        with state.lock:
            rows = sorted(
                (r for r in state.records if after is None or (r["updated_on"], r["id"]) > after),
                key=lambda r: (r["updated_on"], r["id"]),
            )
        page = rows[offset : offset + limit]
        nxt = None
        if offset + limit < len(rows):
            # Django REST framework's LimitOffsetPagination: the request's own address, its
            # parameters sorted, with limit and offset replaced.
            params = {
                "after": q.get("after", ""),
                "limit": limit,
                "offset": offset + limit,
                "order": q.get("order", "asc"),
            }
            nxt = f"{str(request.base_url).rstrip('/')}{request.url.path}?" + urllib.parse.urlencode(
                sorted(params.items())
            )
        checkpoint = f"{page[-1]['updated_on']!r},{page[-1]['id']}" if page else q.get("after", "")
        return JSONResponse(
            {"count": len(rows), "next": nxt, "previous": None, "checkpoint": checkpoint, "results": page}
        )

    app = Starlette(
        routes=[Route("/token-auth/tcap/", token_auth, methods=["POST"]), Route("/api/hash-list/v2/all", hash_list)]
    )
    app.state.exchange = state
    return app


def main() -> None:  # pragma: no cover - a convenience for demos
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service", choices=("ncmec", "stopncii", "threatexchange", "tat"))
    parser.add_argument("--port", type=int, default=8126)
    args = parser.parse_args()
    app = {
        "ncmec": lambda: ncmec_app(username="local", password="local-password"),
        "stopncii": lambda: stopncii_app(
            fetch_key="local-fetch", subscription_key="local-sub", feedback_key="local-feedback"
        ),
        "threatexchange": lambda: threatexchange_app(token="1234567890|local-threatexchange-token"),
        "tat": lambda: tat_app(username="local", password="local-password"),
    }[args.service]()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="info")


if __name__ == "__main__":  # pragma: no cover
    main()
