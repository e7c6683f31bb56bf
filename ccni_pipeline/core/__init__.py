"""Core tables: raw cells resolved to division codes, validated and keyed, in DuckDB."""
