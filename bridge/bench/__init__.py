"""The benchmark: pacing strategies side by side, and the bridge at scale."""
