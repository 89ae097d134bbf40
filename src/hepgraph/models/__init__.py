"""Model families: one module per family (networks, losses and the family's training task)."""
