"""Recommendations: interactions, Spark ALS, the hybrid scorer, evaluation, MLflow, serving."""
