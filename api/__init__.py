"""Entry points: the command line (`tirelire …`) and, later, the thin aiohttp API.

Both only parse, authorize, call the ledger's applications and render. The wiring of
settings, applications and read models lives in `api.bootstrap`.
"""
