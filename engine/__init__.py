"""The headless mask-propagation engine: the AFB-URR network, its feature bank, and the tools around them."""

__version__ = "0.1.0"
