"""The live feed: WebSocket clients, filters, batching and replay."""
