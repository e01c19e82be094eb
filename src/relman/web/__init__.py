"""The web dashboard (issue 13): server-rendered pages in ``relman serve``.

Kept light on purpose: :mod:`relman.web.signin` (login links, used by the CLI and the bot)
imports no web framework; the pages (:mod:`relman.web.app`, :mod:`relman.web.routes`)
load FastAPI and Jinja2 only when the server is built.
"""
