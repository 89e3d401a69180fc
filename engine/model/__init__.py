"""The AFB-URR network: trunks, key/value head, memory readers, decoder with uncertain-region refinement."""

from engine.model.afburr import AFBURR, QueryFeatures, Readout, Segmentation
from engine.model.padding import Padding
from engine.model.readout import MemoryView, ReadOptions

__all__ = ["AFBURR", "MemoryView", "Padding", "QueryFeatures", "ReadOptions", "Readout", "Segmentation"]
