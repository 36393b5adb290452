"""Customer models: lifetime value, churn propensity and behavioural segments."""
