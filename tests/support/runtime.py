"""A runtime for a test's own lake (and landing folder, model folder)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from jobs.common.config import Config
from jobs.common.lake import Lake
from jobs.common.runtime import Runtime


def runtime_for(config: Config, lake: Lake, landing: str | Path | None = None,
                model_dir: str | Path | None = None) -> Runtime:
    """The test config bound to `lake`; landing and the identity model folder where given."""
    local = dataclasses.replace(config, lake=dataclasses.replace(config.lake, root=lake.root))
    if landing is not None:
        local = dataclasses.replace(local, landing=dataclasses.replace(local.landing, uri=str(landing)))
    local = dataclasses.replace(local, identity=dataclasses.replace(
        local.identity, model_dir=str(model_dir) if model_dir is not None else f"{lake.root}/_models/identity"))
    if local.privacy.pseudonym_key_file:  # the lake's own key, where a process given this lake root looks
        local = dataclasses.replace(local, privacy=dataclasses.replace(
            local.privacy, pseudonym_key_file=f"{lake.root}/_secrets/pseudonym.key"))
    return Runtime(local, lake.spark, lake)
