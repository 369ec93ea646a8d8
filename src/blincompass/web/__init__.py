"""The web registry: centres enter and correct their own data in the browser (``blincompass serve``).

* :mod:`~blincompass.web.app` -- the ASGI application (Starlette, server-rendered Jinja2 templates with
  autoescaping, no JavaScript): login (Argon2id, lock-out, TOTP), server-side sessions, CSRF tokens,
  security headers; patients, forms, uploads and downloads, data queries, audit pages, the coordinator's
  dashboard, report runs, users and centres. Every read and write goes through the registry's access layer
  as the logged-in user (:meth:`blincompass.registry.Registry.as_user`).
* :mod:`~blincompass.web.forms` -- the forms generated from the data dictionary and record saves (one
  validated, audited transaction each; a per-patient lock and the patient's version keep concurrent saves
  from undoing each other -- the lock lives in the server process, so serve a registry from one process).
* :mod:`~blincompass.web.dashboard` -- the dashboard's numbers.
* :mod:`~blincompass.web.server` -- engines for a server (SQLite in WAL mode), uvicorn, a server thread.
* :mod:`~blincompass.web.demo` -- the demo registry that ``blincompass demo`` builds.
"""
