"""Local stand-ins for external systems, started by the tests (never used in production)."""
