"""Events: cleaning bronze events, content and users into silver (``foryou clean``).

The logic lives in :mod:`foryou.events.cleaning`; its settings are ``clean`` in
:mod:`foryou.config.clean`.
"""
