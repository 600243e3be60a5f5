"""Delivery: the surfaces, the registry of their kinds, the router that picks them, the relay."""
