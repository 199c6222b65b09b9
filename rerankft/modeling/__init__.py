"""Cross-encoder construction: model names, scoring heads and the portable modeling code that ships with a tuned model."""
