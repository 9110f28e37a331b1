"""Read models built from the ledger's events.

A projection reads the event log in notification order, filtered by the topics it cares
about, and keeps tables that answer questions quickly: balances, pipelines, reports. It
never loads aggregates and never writes events. Each page of events is applied in one
database transaction together with the projection's position in the log, so a crash
between the two is impossible and every event counts exactly once.

Projections can always be dropped and rebuilt from zero by replaying the log.
"""
