"""The one training loop (devices, seeding, checkpoints, resume, logging) shared by every model family."""
