"""QA reports: the report data (from the station database or the cloud table) and
its formats (HTML, CSV, JSON; PDF comes from the app's package)."""
