"""The `pocket-recs` command line."""
