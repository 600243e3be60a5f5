"""The model side: OpenAI-compatible streaming into typed events, and offline token counting."""
