"""CCNI pipeline: the Chinese Cities Carbon Peak & Carbon Neutrality Index from public data."""

__version__ = "0.1.0"
