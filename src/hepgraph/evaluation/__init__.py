"""Evaluation of trained models: scores beside their baselines, the published numbers, and summaries."""
