"""Reports users schedule: YAML definitions, the report builder, delivery and the archive."""
