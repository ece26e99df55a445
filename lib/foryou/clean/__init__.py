"""``foryou clean``: bronze events, content and users to silver.

:mod:`foryou.clean.fields` holds what each field must be (normalisation and the reasons a
record is rejected); :mod:`foryou.clean.stage` the stage's entry (``run``): the batch,
quarantine, merge, write and the counts that must add up.

**Which bronze rows a run takes.** A clean run for run date D takes the bronze rows whose
``ingest_id`` starts with ``clean.ingest_id_prefix`` with ``{run_date}`` replaced by D
(default ``ingest-D-``: the ingest job names its ingests ``ingest-<run date>-<source>-<file>``). So a
run cleans exactly what D's ingests received, whatever the events' own dates: a late event
ingested on D lands in its own, older ``event_date`` partition of silver.events. Bronze files
carry min/max stats for ``ingest_id``, so other ingests' row groups are skipped on read.

**Missing and invalid values, per field** (events):

| field | policy |
|---|---|
| ``event_id``, ``user_id`` | required: trimmed, empty = missing → quarantine |
| ``event_type`` | required; trimmed, lower-cased, ``-``/space → ``_``; not a known type → quarantine |
| ``event_ts`` | required; before ``clean.earliest_event_date``, or after the end of the run date (or ``ingested_at``, if earlier) + ``clean.future_tolerance_s`` → quarantine as in the future |
| ``event_date`` | recomputed as the UTC date of ``event_ts`` (bronze's value is not trusted) |
| ``content_id`` | required for every type but follow/unfollow → quarantine when missing |
| ``creator_id`` | follow/unfollow need ``creator_id`` or ``content_id`` → quarantine when both miss; else optional → null |
| ``watch_ms`` | required for ``view`` (bar an interaction log's, which has no watch time); negative or above ``clean.max_watch_ms`` → quarantine (any type); else optional → null |
| ``position`` | optional → null; negative → quarantine |
| ``request_id``, ``app_version``, ``reason``, ``comment_text`` | optional: trimmed, empty → null |
| ``platform`` | optional: trimmed, lower-cased, empty → null |
| ``exposure`` | optional: trimmed, lower-cased, empty → null (read as ``policy``); not ``policy`` or ``random`` → quarantine |
| ``device_type``, ``os``, ``network_type`` | optional context: trimmed, lower-cased, missing → ``"unknown"`` |
| ``country`` | optional: trimmed, upper-cased; not two letters (ISO 3166-1 alpha-2) → null |
| ``language`` | optional: primary subtag (``en-US`` → ``en``), lower-cased; not 2-3 letters → null |

A record failing several checks is quarantined once, with every reason (``; ``-separated),
each starting with the field it names; ``record_ref`` names the record.

**Duplicates.** Within a batch, one row per ``event_id`` is kept: the earliest received
(``received_at``, then ``ingested_at``). Against what earlier runs cleaned,
:meth:`Lake.insert_new` keeps only new ``event_id``s, reading only the partitions the batch
touches - so a re-sent event is caught when it carries the same ``event_ts`` date as the
first copy (the producer assigns id and time together; a copy whose clock moved it to
another day is not looked for across all of silver, which would mean reading every day). **Counts add up**: input = accepted + quarantined + duplicates, checked in code
(:class:`CountMismatch`) and recorded in ``gold.metrics``.

**Content and users.** One row per ``content_id`` / ``user_id``, its latest version by
``ingested_at``: the batch's latest version of each id is merged with silver's current rows
and the table is overwritten. Required: ``content_id`` / ``user_id`` (missing → quarantine).
Tags are split on commas into ``array<string>`` (missing → empty array); negative durations
and counts → null; country/language as for events. Users' ids are pseudonymised.

``creator_id`` stays as received: it names a public creator account, not the person using
the app. Every silver ``user_id`` is a pseudonym (:mod:`foryou.privacy`).
"""
