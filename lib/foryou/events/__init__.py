"""Events: cleaning bronze events, content and users into silver (``foryou clean``).

The logic lives in :mod:`foryou.events.cleaning`; this package's top level imports nothing
heavy so the config model can import its settings.
"""
