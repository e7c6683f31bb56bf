"""The method layer: the method file, normalisation, weighting and aggregation."""
