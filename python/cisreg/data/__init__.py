"""Data loading: sequence alphabets, encoding and MPRA / sort-seq tables.

Public names
------------
ALPHABETS, resolve_alphabet
    Named alphabets (``"dna"``: ACGT, ``"rna"``: ACGU).
encode, decode
    Vectorised conversion between sequence strings and uint8 codes.
Dataset, read_table, from_dataframe
    Validated data sets read from CSV/TSV/Parquet files or DataFrames.
read_fasta, read_barcodes
    FASTA sequences joined with a table by id; MPRA barcode counts with a
    barcode -> sequence mapping.
load_example, example_path
    The bundled lac promoter sort-seq data set.
"""

from __future__ import annotations

from cisreg.data.alphabet import ALPHABETS, resolve_alphabet
from cisreg.data.dataset import SPLIT_NAMES, Dataset
from cisreg.data.encode import decode, encode
from cisreg.data.readers import (
    EXAMPLES,
    example_path,
    load_example,
    read_barcodes,
    read_fasta,
    read_sequences,
    read_table,
)
from cisreg.data.validate import from_dataframe

__all__ = [
    "ALPHABETS",
    "EXAMPLES",
    "SPLIT_NAMES",
    "Dataset",
    "decode",
    "encode",
    "example_path",
    "from_dataframe",
    "load_example",
    "read_barcodes",
    "read_fasta",
    "read_sequences",
    "read_table",
    "resolve_alphabet",
]
