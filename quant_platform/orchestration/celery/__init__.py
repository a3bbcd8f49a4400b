"""Dagster steps on Celery workers (dagster-celery), Redis as broker and result backend."""
