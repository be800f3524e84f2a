"""The read-only dashboard: `runner.py serve`. A FastAPI app (pages and a JSON API) over the
research query layer; it opens the database read-only and never writes."""
