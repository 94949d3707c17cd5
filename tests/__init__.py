"""tmem test suite."""
