"""CCNI pipeline: the Chinese Cities Carbon Peak & Carbon Neutrality Index."""

__version__ = "0.1.0"
