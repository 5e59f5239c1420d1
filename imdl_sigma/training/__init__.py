"""Training: losses, Stage I / Stage II loops, checkpoints."""
