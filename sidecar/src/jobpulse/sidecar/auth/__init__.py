"""Authentication and roles: bearer tokens kept hashed in the database, WebSocket tickets, route roles."""
