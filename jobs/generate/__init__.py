"""Synthetic retail data: landing files per the landing contract, plus ground truth.

`main.generate` is the entry point; `rates.VariationRates` sets how messy the data is.
"""
