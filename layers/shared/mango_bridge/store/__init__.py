"""DynamoDB repositories over the single table (keys in docs/architecture.md)."""
