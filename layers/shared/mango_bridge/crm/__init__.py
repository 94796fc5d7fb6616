"""CRM port and adapters: intents in, CRM writes out."""
