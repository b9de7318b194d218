"""Where fec/ (OpenFEC over HTTP) and db/ (SQLite) meet: the orchestration of a sync."""
