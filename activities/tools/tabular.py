"""Reading and writing tables by reference (CSV / TSV / Parquet / JSON lines)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from activities.tools.errors import DataFileError

if TYPE_CHECKING:
    import pandas as pd

SUPPORTED = (".csv", ".tsv", ".parquet", ".pq", ".jsonl")


def read_table(path: str, columns: list[str] | None = None) -> pd.DataFrame:
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise DataFileError(f"table file not found: {path} (give an existing CSV/Parquet path)")
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(p, columns=columns)
        elif suffix in (".csv", ".tsv"):
            df = pd.read_csv(p, sep="\t" if suffix == ".tsv" else ",", usecols=columns)
        elif suffix == ".jsonl":
            df = pd.read_json(p, lines=True)
        else:
            raise DataFileError(
                f"unsupported table format {suffix!r} for {path}; use one of {', '.join(SUPPORTED)}"
            )
    except DataFileError:
        raise
    except (ValueError, OSError) as e:
        raise DataFileError(f"cannot read table {path}: {e}") from e
    return df


def require_columns(df: pd.DataFrame, needed: list[str], what: str) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataFileError(
            f"{what} lacks column(s) {', '.join(missing)}; it has {', '.join(map(str, df.columns))}"
        )


def write_table(df: pd.DataFrame, path: Path) -> str:
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return str(path)
