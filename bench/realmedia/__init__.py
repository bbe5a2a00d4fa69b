"""Areas of the real-media benchmark: one module each (see bench/realmedia.py)."""
