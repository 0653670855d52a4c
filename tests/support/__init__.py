"""Plain helpers shared by the test suites and bench/ (the root conftest puts tests/ on
sys.path, so they import as `support.<module>`)."""
