"""Lineage: where published numbers came from and whether the exports still match.

- `trace`: one city's composite score as a tree down to the source cells
  (`build_trace`, `render_text`, `render_json`) and the `ccni trace` command.
  `docs/trace-json.md` documents the JSON format.
- `audit_page`: the same tree as a self-contained HTML page (`render_html`).
- `output_manifest`: the manifest of one edition's exports and its verification.

The package imports none of its modules, so each one loads only what it needs.
"""
