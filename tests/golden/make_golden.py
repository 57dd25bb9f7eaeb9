"""Write the golden artifact folder of the current format version from the tiny test shop.

Run once when FORMAT_VERSION changes: ``python -m tests.golden.make_golden``. Older folders stay
as they are, so the loader is tested against every released format.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from pocket_recs import fit
from pocket_recs.artifacts.manifest import FORMAT_VERSION
from pocket_recs.config import EmbeddingConfig, RecommenderConfig
from pocket_recs.data.io import write_table
from tests.conftest import TINY_CATALOG, tiny_frame


def main() -> None:
    target = Path(__file__).parent / f"v{FORMAT_VERSION}"
    with tempfile.TemporaryDirectory() as tmp:
        interactions = write_table(tiny_frame(), Path(tmp) / "interactions.parquet")
        catalog = write_table(TINY_CATALOG, Path(tmp) / "catalog.csv")
        config = RecommenderConfig(embedding=EmbeddingConfig(cache=False))
        fit(interactions, catalog, target, config, overwrite=True)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
