"""The driver side: the cycle driver, the Ray session and Tune search, console and Ray output."""
