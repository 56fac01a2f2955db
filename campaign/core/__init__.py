"""The bottom layer: errors, small helpers, the console. Imports nothing else of the project."""
