"""The PostgreSQL store: one event log shared by several ``trunkline serve`` nodes.

Modules, one job each: :mod:`~trunkline_postgres.store` (the store itself: the pool, appends
with per-workspace locks, reads, leases and LISTEN/NOTIFY wake-ups; the only module that
imports psycopg) and :mod:`~trunkline_postgres.plugin` (the entry point, which imports the
store only when a store is built, so ``trunkline --help`` never loads psycopg).
"""
