"""Dagster assets and checks by layer: raw, core, out (indicators, scores, exports)."""
