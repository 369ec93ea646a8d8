"""Synthetic twin of the BLIN-COMPASS cohort (labelled SYNTHETIC everywhere)."""

from blincompass.synth.twin import SYNTHETIC_NOTICE, generate_twin, load_spec, twin_label, write_twin

__all__ = ["SYNTHETIC_NOTICE", "generate_twin", "load_spec", "twin_label", "write_twin"]
