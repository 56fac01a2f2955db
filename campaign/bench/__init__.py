"""Benchmarks and the GPU check (tools on the flagship's demo data)."""
