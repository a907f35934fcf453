"""Documentation generated from the code's own tables, so that it cannot drift from the code.

`python -m rookery.docs.mapping` writes `docs/mapping.md`; `python -m rookery.docs.configuration`
rewrites the configuration table in `docs/operations.md`. Both take `--check`, which fails when
the committed file differs; `tests/docs` runs those checks.
"""
