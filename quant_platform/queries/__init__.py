"""Read-side queries for the dashboard and reports; the UI holds no SQL or Redis keys."""
