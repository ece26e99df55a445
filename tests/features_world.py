"""A hand-built tiny world for the feature tests: silver rows written through the lake."""
from __future__ import annotations

import datetime as dt

from foryou.lake import Lake, table

D1, D2, D3, D4 = (dt.date(2024, 5, 1) + dt.timedelta(days=i) for i in range(4))


def ts(day: dt.date, clock: str) -> dt.datetime:
    h, m, s = (int(x) for x in clock.split(":"))
    return dt.datetime(day.year, day.month, day.day, h, m, s)


def event(eid: str, etype: str, user: str, day: dt.date, clock: str, content: str | None = None,
          creator: str | None = None, watch_ms: int | None = None, device: str = "phone") -> dict:
    return {"event_id": eid, "event_type": etype, "user_id": user, "event_ts": ts(day, clock),
            "content_id": content, "creator_id": creator, "watch_ms": watch_ms,
            "device_type": device, "os": "android", "network_type": "wifi",
            "ingest_id": "test", "source": "native", "event_date": day}


def impression(req: str, pos: int, user: str, content: str, day: dt.date, clock: str,
               has_impressions: bool = True, **labels) -> dict:
    row = {"request_id": req, "position": pos, "user_id": user, "content_id": content,
           "event_ts": ts(day, clock), "has_impressions": has_impressions,
           "device_type": "phone", "os": "android", "network_type": "wifi", "event_date": day}
    for name in ("click", "long_view", "complete", "like", "comment", "share", "follow", "save",
                 "skip", "hide", "report"):
        row[name] = labels.get(name, 0)
    row["watch_ms"] = labels.get("watch_ms", 0)
    row["watch_ratio"] = float(labels.get("watch_ratio", 0.0))
    return row


CONTENT = [
    {"content_id": "c1", "creator_id": "k1", "upload_ts": ts(dt.date(2024, 4, 30), "12:00:00"),
     "duration_ms": 30_000, "tags": ["t1", "t2"], "description": "Cat video #cats #funny"},
    {"content_id": "c2", "creator_id": "k1", "upload_ts": ts(dt.date(2024, 4, 30), "12:00:00"),
     "duration_ms": 10_000, "tags": ["t2"], "description": "dog #dogs #funny"},
    {"content_id": "c3", "creator_id": "k2", "upload_ts": ts(D2, "10:00:00"),
     "duration_ms": 70_000, "tags": ["t3"], "description": "news of the day"},
]

EVENTS = [
    # Day 1: u1 watches and likes c1, barely watches c2 and follows its creator; u2 skips c1.
    event("e1", "impression", "u1", D1, "10:00:00", "c1"),
    event("e2", "view", "u1", D1, "10:00:05", "c1", watch_ms=20_000),
    event("e3", "like", "u1", D1, "10:00:30", "c1"),
    event("e4", "view", "u1", D1, "10:01:00", "c2", watch_ms=1_000),
    event("e5", "follow", "u1", D1, "10:01:30", "c2", creator="k1"),
    event("e6", "impression", "u2", D1, "11:00:00", "c1", device="tablet"),
    event("e7", "skip", "u2", D1, "11:00:02", "c1", device="tablet"),
    # Day 2: u1 watches c1 to the end; u2 likes c2 without viewing it.
    event("e8", "view", "u1", D2, "09:00:00", "c1", watch_ms=30_000),
    event("e9", "complete_view", "u1", D2, "09:00:31", "c1"),
    event("e10", "impression", "u2", D2, "12:00:00", "c2", device="tablet"),
    event("e11", "like", "u2", D2, "12:00:05", "c2", device="tablet"),
    # Day 3: u1 views c3.
    event("e12", "impression", "u1", D3, "08:00:00", "c3"),
    event("e13", "view", "u1", D3, "08:00:10", "c3", watch_ms=70_000),
]

IMPRESSIONS = [
    impression("r1", 0, "u1", "c1", D1, "10:00:00", click=1, like=1, watch_ms=20_000, watch_ratio=2 / 3),
    impression("r2", 0, "u2", "c1", D1, "11:00:00", skip=1),
    impression("r3", 0, "u2", "c2", D2, "12:00:00", like=1),
    impression("r5", 0, "u1", "c2", D2, "09:10:00", skip=1),
    impression("r4", 0, "u1", "c3", D3, "08:00:00", click=1, complete=1, watch_ms=70_000, watch_ratio=1.0),
    impression("r6", 1, "u1", "c1", D3, "08:01:20", skip=1),
    # A log without impressions (the generic interactions adapter): a positive only.
    impression("i1", 0, "u2", "c1", D3, "13:00:00", has_impressions=False, click=1, like=1),
]

SESSIONS = [
    {"session_id": "s1", "user_id": "u1", "session_start": ts(D1, "10:00:00"),
     "session_end": ts(D1, "10:01:30"), "duration_s": 90.0, "events": 5, "views": 2,
     "watch_ms": 21_000, "engagements": 2, "session_date": D1},
    {"session_id": "s2", "user_id": "u1", "session_start": ts(D2, "09:00:00"),
     "session_end": ts(D2, "09:00:31"), "duration_s": 31.0, "events": 2, "views": 1,
     "watch_ms": 30_000, "engagements": 0, "session_date": D2},
]


def write_world(spark, lake: Lake, events=EVENTS, impressions=IMPRESSIONS, content=CONTENT,
                sessions=SESSIONS) -> None:
    """Write the world's silver tables."""
    now = dt.datetime(2024, 5, 1)
    lake.append("silver.content", spark.createDataFrame(
        [{**c, "updated_at": now} for c in content], _schema("silver.content", content[0])))
    for name, rows in (("silver.events", events), ("silver.impressions", impressions),
                       ("silver.sessions", sessions)):
        if rows:
            lake.append(name, spark.createDataFrame(rows, _schema(name, rows[0])))


def _schema(name: str, row: dict):
    from pyspark.sql.types import StructType
    spec = table(name).schema
    keep = set(row) | {"updated_at"}
    return StructType([f for f in spec.fields if f.name in keep])
