"""pandera models of the raw, core and output tables, run in Dagster asset checks."""
