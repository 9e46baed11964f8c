"""fastapi_app.py: the FastAPI peer: GET /api/v2/training/jobs/{job_id}/progress, read with asyncpg.

Written as a Python team would write it: a pool per worker, a dict returned
and serialised by FastAPI.  up.sh runs it under uvicorn (2 workers, uvloop,
httptools) behind the peers' nginx, which strips the /fastapi prefix.
"""
import json
import math
import os
import re
from datetime import timezone

import asyncpg
from fastapi import FastAPI
from fastapi.responses import JSONResponse

# The spec's 17 fields, in the spec's order; the document keeps this order.
FIELDS = (
    "job_id", "percentage", "current_step", "step_number", "total_steps",
    "step_percentage", "step_details", "started_at", "updated_at", "estimated_completion",
    "current_iteration", "total_iterations", "best_score", "current_score", "best_params",
    "is_complete", "error_message",
)
QUERY = "SELECT %s FROM training_progress WHERE job_id = $1" % ", ".join(FIELDS)
TIMESTAMPS = ("started_at", "updated_at", "estimated_completion")
SCORES = ("best_score", "current_score")
# Control characters, which an id may not hold (docs/API.md).
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")

app = FastAPI()


async def decode_jsonb(conn):
    """jsonb as Python objects: asyncpg hands it over as text otherwise."""
    await conn.set_type_codec("jsonb", schema="pg_catalog", encoder=json.dumps, decoder=json.loads)


@app.on_event("startup")
async def open_pool():
    # Each worker its own pool, connected before the first request.  Four
    # connections a worker: as many as PHP-FPM's children have in all.
    app.state.pool = await asyncpg.create_pool(os.environ["PEERS_DB_URL"], min_size=4, max_size=4,
                                               init=decode_jsonb)


@app.on_event("shutdown")
async def close_pool():
    await app.state.pool.close()


def error(status, code, message):
    return JSONResponse({"error": code, "message": message}, status_code=status)


def job_id_problem(job_id):
    """What is wrong with an id under the API's rules, or None.  (The path
    parameter arrives decoded, and the route takes no "/" inside it.)"""
    if len(job_id.encode("utf-8", "surrogateescape")) > 255:
        return "job_id is longer than 255 bytes"
    if CONTROL.search(job_id):
        return "job_id contains a control character"
    if job_id in (".", ".."):
        return "job_id is a dot-segment"
    return None


def rfc3339(t):
    """RFC 3339 in UTC: whole seconds without a fraction, otherwise six digits."""
    if t is None:
        return None
    t = t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if t.microsecond else "%Y-%m-%dT%H:%M:%SZ")


@app.get("/api/v2/training/jobs/{job_id}/progress")
async def progress(job_id: str):
    problem = job_id_problem(job_id)
    if problem:
        return error(400, "invalid_job_id", problem)
    try:
        row = await app.state.pool.fetchrow(QUERY, job_id)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return error(503, "database_unavailable", "the database cannot be reached")
    if row is None:
        return error(404, "not_found", 'no training job has the id "%s"' % job_id)
    document = dict(row)
    for name in TIMESTAMPS:
        document[name] = rfc3339(document[name])
    # NaN and the infinities, which a FLOAT column can hold, have no JSON form.
    for name in SCORES:
        if document[name] is not None and not math.isfinite(document[name]):
            document[name] = None
    return document
