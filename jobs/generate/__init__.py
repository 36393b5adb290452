"""Synthetic retail data: landing files per the landing contract, plus ground truth.

`main.generate` is the entry point (`c360 generate`); `jobs.common.rates.VariationRates` sets how messy the data is.
"""
