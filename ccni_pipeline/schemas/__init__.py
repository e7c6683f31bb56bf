"""pandera models of the raw, core and output tables, run inside Dagster asset checks."""
