"""The documentation runs: every tutorial's Python blocks execute, in order, in an empty
directory; every model file shown in the model-file reference parses and compiles; and,
where Sphinx is installed (``pip install ".[docs]"``), the site builds without a warning."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import cisreg

DOCS = Path(__file__).resolve().parent.parent / "docs"
TUTORIALS = sorted(p.stem for p in (DOCS / "tutorials").glob("*.md") if p.stem != "index")

#: What a block needs beyond the test extra, by a string that marks it.
OPTIONAL = {
    "cisreg.plot": ("matplotlib", "logomaker"),
    "local_client": ("distributed",),
}


def fenced_blocks(path: Path, lang: str) -> list[str]:
    """The ```lang fenced blocks of a Markdown file, in order."""
    return re.findall(rf"^```{lang}[ \t]*\n(.*?)^```[ \t]*$", path.read_text(encoding="utf-8"), re.S | re.M)


def _missing(block: str) -> list[str]:
    return [mod for marker, mods in OPTIONAL.items() if marker in block
            for mod in mods if importlib.util.find_spec(mod) is None]


def test_every_tutorial_is_in_the_index():
    index = (DOCS / "tutorials" / "index.md").read_text(encoding="utf-8")
    for name in TUTORIALS:
        assert f"\n{name}\n" in index, name
    assert TUTORIALS, "no tutorials found"


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_runs(name, tmp_path, monkeypatch, capsys):
    path = DOCS / "tutorials" / f"{name}.md"
    blocks = fenced_blocks(path, "python")
    assert blocks, f"{path} has no ```python blocks"
    monkeypatch.chdir(tmp_path)
    # one kernel thread: fits are bit-identical for any thread count, and on a shared machine
    # a single thread avoids OpenMP threads waiting on each other for busy cores
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    namespace = {"__name__": "__main__"}
    skipped = []
    for i, block in enumerate(blocks):
        missing = _missing(block)
        if missing:  # optional dependencies (the plot and dask extras); later blocks do not need them
            skipped.append((i, missing))
            continue
        code = compile(block, f"{path.name} [python block {i + 1}]", "exec")
        exec(code, namespace)
    if skipped:
        print(f"{name}: skipped blocks {skipped} (optional dependencies missing)")


def _model_examples() -> list[tuple[str, str, str]]:
    out = []
    for page in ("model-files.md", "getting-started.md"):
        path = DOCS / page
        for lang in ("json", "toml"):
            for i, text in enumerate(fenced_blocks(path, lang)):
                out.append((f"{page}:{lang}{i + 1}", lang, text))
    return out


MODEL_EXAMPLES = _model_examples()


def test_the_model_file_reference_has_examples():
    assert len([e for e in MODEL_EXAMPLES if e[0].startswith("model-files")]) >= 8


@pytest.mark.parametrize(("where", "lang", "text"), MODEL_EXAMPLES, ids=[e[0] for e in MODEL_EXAMPLES])
def test_model_file_examples_parse_and_compile(where, lang, text, tmp_path):
    if lang == "toml":
        tomllib = pytest.importorskip("tomllib")  # Python 3.11+
        doc = tomllib.loads(text)
    else:
        doc = json.loads(text)
    if "measurement" not in doc:  # a fragment (one key's value), not a whole model file
        return
    spec = cisreg.spec_from_dict(doc, source=where)
    if spec.length_from_data:
        spec = spec.with_length(20)
    model = cisreg.Model(spec, seed=0)
    assert model.layout.size > 0
    assert cisreg.spec_from_dict(spec.to_dict()).to_dict() == spec.to_dict()
    # the same text read as a model file
    f = tmp_path / f"model.{lang}"
    f.write_text(text, encoding="utf-8")
    assert cisreg.read_spec(f).to_dict() == cisreg.spec_from_dict(doc).to_dict()


def test_the_lac_example_is_the_preset():
    lac = [json.loads(t) for w, lang, t in MODEL_EXAMPLES
           if w.startswith("model-files") and lang == "json" and '"CRP+RNAP"' in t]
    assert lac, "the model-file reference lost the lac example"
    assert cisreg.spec_from_dict(lac[0]).to_dict() == cisreg.preset("lac").to_dict()


@pytest.mark.slow
def test_sphinx_build_has_no_warnings(tmp_path):
    pytest.importorskip("sphinx")
    for mod in ("myst_parser", "furo", "sphinxarg"):
        pytest.importorskip(mod)
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-d",
           str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert not r.stderr.strip(), r.stderr[-4000:]
    assert (tmp_path / "html" / "index.html").exists()
    assert (tmp_path / "html" / "cli.html").read_text(encoding="utf-8").count("fit-many") >= 1
    # every public name has its entry in the API reference
    api = (tmp_path / "html" / "api" / "cisreg.html").read_text(encoding="utf-8")
    for name in cisreg.__all__:
        if name not in ("__version__", "fit", "simulate"):
            assert f'id="cisreg.{name}"' in api, name
    for mod in ("data", "models", "fit", "simulate", "compare", "variants", "scaleout", "plot"):
        assert (tmp_path / "html" / "api" / f"cisreg.{mod}.html").exists(), mod
