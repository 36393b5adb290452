"""What every stage shares: config, the Spark session, the lake, the landing contract, the stage contract."""
