"""Tests for tmem.llm."""
