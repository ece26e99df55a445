"""Sessions: cutting each user's events into sessions at inactivity gaps (``foryou sessionize``).

:mod:`foryou.sessions.sessionize` holds the distributed, skew-safe cut of an event frame into
sessions; :mod:`foryou.sessions.daily` runs it incrementally, one run date at a time, so a
session crossing midnight stays one session; :mod:`foryou.sessions.stage` is the stage's entry.
Its settings are :mod:`foryou.config.sessions`.
"""
