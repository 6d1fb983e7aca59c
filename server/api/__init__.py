"""HTTP routes and the signaling WebSocket; routes call services, never the ORM."""
