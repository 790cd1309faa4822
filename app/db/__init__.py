"""Models, engine/session factory and repositories (the only code that writes SQL)."""
