"""Stage 1 input: BEIR-format collections (local, bundled demo, Hugging Face Hub), splits, candidate files."""
