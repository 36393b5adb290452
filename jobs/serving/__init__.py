"""The serving layer: serving.customer_lookup (the `build_lookup` stage) and the read API (`c360 serve`)."""
