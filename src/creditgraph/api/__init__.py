"""The HTTP API: a thin translation layer over the decision service, with API-key auth."""
