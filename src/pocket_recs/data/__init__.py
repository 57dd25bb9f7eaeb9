"""Reading, validating and representing interaction logs and catalogs."""
