"""The platform every service stands on: settings, database, events, bus, outbox, inbox, auth,
errors, tracing and observability. One way of doing each of these things, used by all four services."""
