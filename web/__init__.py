"""Web pages for people: server-rendered HTML (Jinja), HTMX for partial updates, on top of the domain services.

A layer above ``calendar_feeds`` and below ``server``: routes parse a request, call one domain service
method (or one small function of ``web.views`` that calls a few) and render a template. No queries and no
rules here; refusals are the domain's ``DomainError``s, shown in the reader's language. ``server/app.py``
mounts everything with ``WebPlugin`` (``web.plugin``). How to add a page: ``web/README.md``.
"""
