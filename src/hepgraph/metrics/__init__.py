"""Evaluation metrics: distances between samples, energy flow polynomials, generative-jet scores (JetNet)."""
