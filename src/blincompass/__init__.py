"""blincompass: reproducible pipeline for multicentre real-world studies in paediatric leukaemia."""

__version__ = "0.1.0"
