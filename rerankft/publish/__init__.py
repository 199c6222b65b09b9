"""Model cards and Hub upload; sweep summaries."""
