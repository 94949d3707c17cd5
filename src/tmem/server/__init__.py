"""tmem's REST service (extra ``server``): :func:`tmem.server.app.create_app` builds it.

Importing this package imports nothing else; FastAPI is only needed by ``tmem.server.app``.
"""
