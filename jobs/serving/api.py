"""`c360 serve`: the read API apps call for a customer's key, segments, scores and recommendations.

FastAPI on uvicorn, without a JVM: the latest complete serving day (docs/serving.md) is read
with delta-rs into Arrow and indexed in memory (jobs/serving/index.py). A thread looks for a
newer complete day (or a rewritten one) every `serving.refresh_seconds`, loads it beside the
served one and swaps it in with one assignment: each request reads the day it started with,
so none sees two days. When the lake cannot be read the service keeps its day and says so
in /health.

Endpoints (OpenAPI docs at /docs):
- `GET /customers/{id_type}/{id}`: the current customer_key, segments and scores;
- `GET /customers/{id_type}/{id}/recommendations?limit=N`: the ranked list with reasons;
- `GET /health`: the run_date served, when it was loaded, the last check and error.

`id_type` is one of serving.customer_lookup's (`crm_id`, `account_id`, `loyalty_id`,
`email_hmac`, `customer_key`). 400: a malformed id_type, id or limit; 404: an id no customer
has; 409: an id that names several customers (a shared email); 401: a missing or wrong
bearer token when `serving.require_token` is set; 503: no complete day yet.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import logging
import os
import re
import threading
from contextlib import asynccontextmanager
from typing import Any

import pyarrow as pa
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel

from jobs.common.config import Config
from jobs.common.errors import ConfigError
from jobs.common.serving_contract import LOOKUP_ID_TYPES
from jobs.serving.index import ServedDay, latest_complete_day, load_day

log = logging.getLogger(__name__)

MAX_ID_CHARS = 128
DEFAULT_LIMIT = 10
_ID_RULES = {
    "email_hmac": (re.compile(r"[0-9a-f]{64}"), "64 hexadecimal digits (HMAC-SHA256 of the trimmed, lower-cased email)"),
    "customer_key": (re.compile(r"CK[0-9A-F]{16}"), "CK followed by 16 hexadecimal digits"),
}
_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]+")


class Segments(BaseModel):
    rfm_score: str | None = None
    rfm_segment: str | None = None
    cluster_id: int | None = None
    cluster_name: str | None = None
    segment_model_version: str | None = None


class Scores(BaseModel):
    expected_purchases_90d: float | None = None
    p_alive: float | None = None
    clv_12m: float | None = None
    churn_probability: float | None = None
    churn_risk_band: str | None = None
    churn_drivers: list[str] | None = None
    clv_model_version: str | None = None
    churn_model_version: str | None = None


class CustomerOut(BaseModel):
    customer_key: str
    run_date: dt.date
    segments: Segments | None
    scores: Scores | None


class Item(BaseModel):
    rank: int
    product_id: str
    score: float | None
    source: str
    reason: str | None


class RecommendationsOut(BaseModel):
    customer_key: str
    run_date: dt.date
    model_version: str | None
    items: list[Item]


class ErrorOut(BaseModel):
    error: str


class HealthOut(BaseModel):
    status: str
    run_date: dt.date | None
    loaded_at: dt.datetime | None
    load_seconds: float | None
    rows: dict[str, int]
    versions: dict[str, int]
    checked_at: dt.datetime | None
    last_error: str | None


class Served:
    """The day the service answers from, and the thread that replaces it when a newer one lands."""

    def __init__(self, lake_root: str, refresh_seconds: float):
        self.lake_root = lake_root
        self.refresh_seconds = refresh_seconds
        self.day: ServedDay | None = None
        self.checked_at: dt.datetime | None = None
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """Load the latest complete day if it is not the one served (or was rewritten); True when swapped."""
        try:
            day, versions, fingerprint = latest_complete_day(self.lake_root)
            served = self.day
            if day is None:
                self.last_error = None if served is None else (
                    f"no complete serving day under {self.lake_root} any more; still serving {served.run_date}")
                return False
            self.last_error = None
            if served is not None and (day < served.run_date or (day, fingerprint) == (served.run_date,
                                                                                        served.fingerprint)):
                return False  # the served day is the newest and unchanged
            loaded = load_day(self.lake_root, day, versions, fingerprint)
            self.day = loaded  # one assignment: requests hold the day they started with
            log.info("serving run_date %s (loaded in %.1f s)", day, loaded.load_seconds)
            del served, loaded  # the old day goes when its last request ends; Arrow returns its memory
            pa.default_memory_pool().release_unused()
            return True
        except Exception as exc:  # the lake unreadable, a table rewritten under us: keep the served day
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("serving: could not refresh from %s, still serving %s: %s", self.lake_root,
                        self.day.run_date if self.day else "nothing", self.last_error)
            return False
        finally:
            self.checked_at = dt.datetime.now(dt.UTC)

    def start(self) -> None:
        self.refresh()
        self._thread = threading.Thread(target=self._loop, name="c360-serving-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            self.refresh()


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body, default=str, separators=(",", ":")), status_code=status,
                    media_type="application/json")


def _error(status: int, message: str) -> Response:
    return Response(_error_body(message), status_code=status, media_type="application/json")


def _checked_id(id_type: str, id_: str) -> tuple[str, str | None]:
    """The id as looked up (trimmed; an email pseudonym lower-cased), and what is wrong with it (None: nothing)."""
    if id_type not in LOOKUP_ID_TYPES:
        return id_, f"unknown id_type '{id_type[:40]}': use one of {', '.join(LOOKUP_ID_TYPES)}"
    value = id_.strip()
    if id_type == "email_hmac":
        value = value.lower()
    if not value or len(value) > MAX_ID_CHARS or not _PRINTABLE.fullmatch(value):
        return value, f"malformed {id_type}: 1 to {MAX_ID_CHARS} printable characters expected"
    rule = _ID_RULES.get(id_type)
    if rule and not rule[0].fullmatch(value):
        return value, f"malformed {id_type}: expected {rule[1]}"
    return value, None


def _error_body(message: str) -> bytes:
    return json.dumps({"error": message}, separators=(",", ":")).encode()


def answer(day: ServedDay | None, id_type: str, id_: str, limit: int | None = None) -> tuple[bytes, int]:
    """The body and status of `GET /customers/{id_type}/{id}` (`limit` None) or of its recommendations."""
    value, bad = _checked_id(id_type, id_)
    if bad is not None:
        return _error_body(bad), 400
    if day is None:
        return _error_body("no complete serving day yet: run c360_daily (or `c360 run`) first"), 503
    found = day.resolve(id_type, value)
    if found is None:
        # The id is not repeated: a client may have sent personal data where an id belongs.
        return _error_body(f"no customer has this {id_type} on {day.run_date}"), 404
    key = found.customer_key
    if key is None:
        return _error_body(f"this {id_type} names {found.candidates} customers on {day.run_date}: "
                           "look the customer up by another id"), 409
    head = f'{{"customer_key":{json.dumps(key)},"run_date":"{day.run_date.isoformat()}",'.encode()
    if limit is None:
        segments, scores = day.profile_json(key)
        return b"".join((head, b'"segments":', segments, b',"scores":', scores, b"}")), 200
    items, version = day.recommendations_json(key, limit)
    return b"".join((head, b'"model_version":', json.dumps(version).encode(), b',"items":', items, b"}")), 200


class FastPath:
    """ASGI middleware: the two lookup endpoints answered by `answer` without FastAPI's routing and
    validation, the same bytes and status the routes give. Anything else (the docs, /health, a
    limit to validate, a path the routes would not match) goes on to the app."""

    JSON = [(b"content-type", b"application/json")]

    def __init__(self, app, served: Served, max_limit: int):
        self.app = app
        self.served = served
        self.limits = {f"limit={n}".encode(): n for n in range(1, max_limit + 1)} | {b"": DEFAULT_LIMIT}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "GET":
            parts = scope["path"].split("/")
            if len(parts) in (4, 5) and parts[1] == "customers" and parts[3]:
                limit = None
                if len(parts) == 5:
                    limit = self.limits.get(scope["query_string"]) if parts[4] == "recommendations" else None
                if len(parts) == 4 or limit is not None:
                    body, status = answer(self.served.day, parts[2], parts[3], limit)
                    await send({"type": "http.response.start", "status": status,
                                "headers": [*self.JSON, (b"content-length", str(len(body)).encode())]})
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)


class BearerToken:
    """ASGI middleware: every request but /health and the docs needs `Authorization: Bearer <token>`."""

    OPEN_PATHS = frozenset({"/health", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc"})

    def __init__(self, app, token: str):
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] not in self.OPEN_PATHS:
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                response = _error(401, "missing or wrong bearer token: send `Authorization: Bearer <token>`")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(config: Config, lake_root: str | None = None, *, token: str | None = None) -> FastAPI:
    """The API over the lake of `config` (or `lake_root`).

    Args:
        config: the profile (its `serving` section).
        lake_root: the lake to serve (default: the profile's).
        token: the bearer token required when `serving.require_token` (default: read from the
            environment variable `serving.token_env`).

    Raises:
        ConfigError: the profile requires a token and none is set.
    """
    sc = config.serving
    token = token if sc.require_token else None
    if sc.require_token:
        token = token or os.environ.get(sc.token_env, "").strip()
        if not token:
            raise ConfigError(f"serving.require_token is set but the environment variable {sc.token_env} "
                              "(serving.token_env) is empty: set it to the token clients send as "
                              "`Authorization: Bearer <token>`")
    served = Served(lake_root or config.lake.root, sc.refresh_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await asyncio.to_thread(served.start)
        yield
        served.stop()

    app = FastAPI(title="c360 serving API", version="1", lifespan=lifespan,
                  description="Precomputed customer keys, segments, scores and recommendations of the latest "
                              "complete serving day. Ids are looked up in serving.customer_lookup: "
                              + "; ".join(f"`{k}`: {v}" for k, v in LOOKUP_ID_TYPES.items()) + ".")
    app.state.served = served
    app.add_middleware(FastPath, served=served, max_limit=sc.max_limit)
    if token is not None:  # added last: outside the fast path
        app.add_middleware(BearerToken, token=token)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path"))
        return _error(400, f"malformed {where or 'request'}: {first.get('msg', 'invalid')}")

    errors = {400: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut},
              503: {"model": ErrorOut}}

    @app.get("/customers/{id_type}/{id}", response_model=CustomerOut, responses=errors,
             summary="A customer's key, segments and scores")
    async def customer(id_type: str, id: str):  # noqa: A002 - the path's name
        return Response(*answer(served.day, id_type, id), media_type="application/json")

    @app.get("/customers/{id_type}/{id}/recommendations", response_model=RecommendationsOut, responses=errors,
             summary="A customer's ranked recommendations with reasons")
    async def recommendations(id_type: str, id: str,  # noqa: A002
                              limit: int = Query(DEFAULT_LIMIT, ge=1, le=sc.max_limit, description="items at most")):
        return Response(*answer(served.day, id_type, id, limit), media_type="application/json")

    @app.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}},
             summary="The day served, when it was loaded, the last check")
    async def health():
        day = served.day
        body = {
            "status": "ok" if day is not None else "no complete day yet",
            "run_date": day.run_date.isoformat() if day else None,
            "loaded_at": day.loaded_at.isoformat() if day else None,
            "load_seconds": day.load_seconds if day else None,
            "rows": day.rows if day else {}, "versions": day.versions if day else {},
            "checked_at": served.checked_at.isoformat() if served.checked_at else None,
            "last_error": served.last_error,
        }
        return _json(200 if day is not None else 503, body)

    return app


def serve(config: Config, host: str | None = None, port: int | None = None) -> None:
    """Run the API with uvicorn until interrupted."""
    import uvicorn

    app = create_app(config)
    uvicorn.run(app, host=host or config.serving.host, port=port or config.serving.port, log_level="warning",
                access_log=False)
