"""Benchmarks: rerank first stages with every system, metrics with ir-measures, significance, fusion fitted on dev, reports."""
