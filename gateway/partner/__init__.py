"""Partner submissions: API keys, the durable outbox, operations and their encoding."""
