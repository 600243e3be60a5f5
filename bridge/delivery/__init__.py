"""Delivery: surfaces that show a reply in DingTalk, the router that picks them, the relay."""
