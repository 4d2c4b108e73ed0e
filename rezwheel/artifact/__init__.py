"""The artifact format: names, tags, rez definitions, the layout map, metadata, writing and reading wheels (DESIGN.md section 2)."""
