"""The point-in-time feature store: user, item and context features, vocabularies and
training examples (issue #4).

A feature row with ``as_of_date`` D uses only events strictly before D. Each day is built
from the previous day's rows (the additive state) plus one day of events, so a run reads
one day of silver events, not the history; :mod:`foryou.features.build` runs a day.
"""
