"""Privacy: erasure requests -> persons -> their rows gone from every table, VACUUMed, landing files rewritten."""
