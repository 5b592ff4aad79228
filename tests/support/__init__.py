"""Test-only helpers: the echo engine registered only in tests."""
