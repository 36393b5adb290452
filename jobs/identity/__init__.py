"""Identity resolution: source records -> links -> clusters -> a stable customer_key."""
