"""The feature layer: dbt_project/ built on the job's SparkSession into gold Delta marts."""
