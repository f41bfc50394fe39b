"""Code shared by the gateway and the action server: settings, database, privacy, safety."""
