"""Read models of the workspace pages: SQL through SQLAlchemy Core, no HTML."""
