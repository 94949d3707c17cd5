"""Fakes shared across the test suite (servers that speak real protocols on 127.0.0.1)."""
