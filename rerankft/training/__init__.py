"""Fine-tuning with sentence-transformers CrossEncoderTrainer (accelerate): losses, dev evaluation, logs, resume."""
