"""What a conversation remembers: prompts, history, and deduplication of deliveries."""
