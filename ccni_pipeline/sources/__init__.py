"""Source families: the manifest of delivered files, fetching, one reader per family.

Each reader turns one delivered file into the raw long frame defined in
`ccni_pipeline.sources.base`: one row per value cell, with the cell's provenance.
"""
