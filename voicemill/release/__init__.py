"""Release bookkeeping in PostgreSQL: speaker profiles, alias audit trail, regressions.

MLflow's model registry says where an alias points now; these tables say how it got
there and which voice settings each release was measured with.
"""
