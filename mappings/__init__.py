"""The index templates, as JSON data files; read by core.indices."""
