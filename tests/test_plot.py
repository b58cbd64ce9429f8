"""Figures of fitted models (the ``plot`` extra): every figure, for every kind of model, writes a
valid, non-empty image through the API, the Model methods and ``cisreg plot``; matplotlib stays
out of ``import cisreg``; a missing extra is a clear error. Tests that draw skip without
matplotlib / logomaker."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import cisreg
from cisreg.cli import main
from cisreg.models import Model

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def plot():
    pytest.importorskip("matplotlib")
    pytest.importorskip("logomaker")
    import cisreg.plot

    return cisreg.plot


def check_image(path, min_bytes=5_000):
    """A real, non-empty image: PNG magic and pixels that are not all one colour, or an SVG document."""
    data = path.read_bytes()
    assert len(data) >= min_bytes, f"{path.name}: only {len(data)} bytes"
    if path.suffix == ".png":
        import matplotlib.image

        assert data[:8] == PNG_MAGIC, path.name
        img = matplotlib.image.imread(path)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100, img.shape
        assert float(img[..., :3].std()) > 0.01, f"{path.name} is blank"
    else:
        text = data.decode("utf-8")
        assert text.lstrip().startswith("<?xml") and "<svg" in text and "</svg>" in text, path.name


def check_figures(fig_dir, names, formats=("png",)):
    for n in names:
        for fmt in formats:
            check_image(fig_dir / f"{n}.{fmt}")


def no_pyplot_figures():
    import matplotlib.pyplot as plt

    return plt.get_fignums() == []


def _two_state(site, L, meas):
    return {"alphabet": "dna", "length": L, "sites": [site],
            "thermodynamic": {"states": [{"name": "free"}, {"name": "TF", "bound": ["TF"], "activity": 1}]},
            "measurement": meas}


def _write_table(path, data):
    import pandas as pd

    cols = {"x": data.x}
    if data.counts is not None:
        cols.update({f"ct_{i}": data.counts[:, i].astype(int) for i in range(data.counts.shape[1])})
    else:
        cols["y"] = data.y
    cols["set"] = np.array(["training", "validation", "test"])[data.split]
    pd.DataFrame(cols).to_csv(path, index=False)


# ----------------------------------------------------------------------------- the extra stays optional
def test_import_cisreg_does_not_import_matplotlib():
    code = ("import sys, cisreg, cisreg.plot, cisreg.cli, cisreg.commands.plot; cisreg.cli.build_parser(); "
            "bad = [m for m in ('matplotlib', 'logomaker') if m in sys.modules]; assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_missing_matplotlib_is_a_clear_error(tmp_path, monkeypatch, capsys):
    import cisreg.plot

    model = Model("lac", seed=0)
    model.save(tmp_path / "m")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    with pytest.raises(cisreg.plot.PlotDependencyError, match=r'pip install "cisreg\[plot\]"'):
        model.plot_logos()
    with pytest.raises(ImportError, match="matplotlib"):
        cisreg.plot.landscape(model)
    assert main(["plot", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert 'pip install "cisreg[plot]"' in err and len(err.strip().splitlines()) == 1


def test_missing_logomaker_is_a_clear_error(plot, monkeypatch):
    monkeypatch.setitem(sys.modules, "logomaker", None)
    with pytest.raises(plot.PlotDependencyError, match=r"logomaker.*cisreg\[plot\]"):
        plot.logos(Model("lac", seed=0))


def test_bad_file_name_and_site(plot, tmp_path):
    model = Model("lac", seed=0)
    fig = plot.logos(model)
    with pytest.raises(cisreg.InputError, match="image format"):
        plot.save_figure(fig, tmp_path / "logos.jpeg")
    with pytest.raises(cisreg.InputError, match="no site 'TF'"):
        plot.logos(model, sites="TF")
    with pytest.raises(cisreg.InputError, match="additive energies only"):
        plot.pair_heatmap(model, "CRP")
    with pytest.raises(cisreg.InputError, match="kinetic models"):
        plot.state_graph(model)


# ----------------------------------------------------------------------------- thermodynamic lac, sort-seq
@pytest.fixture(scope="module")
def lac_dir(tmp_path_factory):
    pytest.importorskip("matplotlib")
    pytest.importorskip("logomaker")
    out = tmp_path_factory.mktemp("plot") / "lac"
    assert main(["fit", "--example", "lac-sortseq", "--out", str(out), "--epochs", "2", "--threads", "2",
                 "--quiet"]) == 0
    return out


def test_cli_plot_lac_every_figure_png_and_svg(lac_dir, capsys):
    assert main(["plot", str(lac_dir), "--format", "png,svg", "--threads", "2"]) == 0
    out = capsys.readouterr().out
    figs = lac_dir / "figures"
    check_figures(figs, ["logos", "training", "measurement", "landscape"], ("png", "svg"))
    assert not (figs / "state_graph.png").exists()  # thermodynamic: no state graph
    assert out.count("wrote ") == 8


def test_cli_plot_lac_reference_gauge_and_only(lac_dir, tmp_path):
    assert main(["plot", str(lac_dir), "--out", str(tmp_path / "f"), "--only", "logos", "--gauge", "wt",
                 "--units", "kcal/mol", "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == ["logos.png"]
    check_image(tmp_path / "f" / "logos.png")


def test_lac_model_methods(plot, lac_dir, tmp_path):
    model = cisreg.load(lac_dir)
    data = cisreg.load_example("lac-sortseq")
    model.plot_logos(tmp_path / "logos.png")
    model.plot_training(lac_dir, tmp_path / "training.png")
    model.plot_measurement(data, tmp_path / "measurement.png", split="validation", n_threads=2)
    test = data.indices("test")[:3000]
    model.plot_landscape(data.codes[test], tmp_path / "landscape.svg", n_threads=2)
    for name in ("logos.png", "training.png", "measurement.png", "landscape.svg"):
        check_image(tmp_path / name)
    assert no_pyplot_figures()


def test_logo_shows_minus_the_energy(plot):
    """The letters a site favours (low energy) stand above the axis."""
    model = Model(_two_state({"name": "TF", "start": 0, "width": 3}, 3, {"type": "ge", "hidden": 2}), seed=0)
    E = np.zeros((3, 4))
    E[np.arange(3), [0, 1, 2]] = -2.0  # A, C, G favoured, every other letter 0
    model.set_theta(energies={"TF": E})
    ymin, ymax = plot.logos(model, gauge="none").axes[0].get_ylim()
    assert ymax >= 2.0 and ymin > -0.5


# ----------------------------------------------------------------------------- GE
def test_ge_model_api_and_cli(plot, tmp_path, capsys):
    rng = np.random.default_rng(1)
    d = _two_state({"name": "TF", "start": 2, "width": 8}, 16, {"type": "ge", "hidden": 4})
    truth = Model(d, seed=2)
    data = cisreg.simulate.continuous(truth, n=1500, rng=rng, noise_sd=0.2)
    res = cisreg.fit(data, d, epochs=3, quiet=True, n_threads=2)
    m = res.model
    m.plot_logos(tmp_path / "logos.png")
    m.plot_training(res, tmp_path / "training.png")
    m.plot_measurement(data, tmp_path / "measurement.png")
    m.plot_landscape(data.codes, tmp_path / "landscape.png")
    for name in ("logos", "training", "measurement", "landscape"):
        check_image(tmp_path / f"{name}.png")
    # the command line finds the table through report.json
    _write_table(tmp_path / "d.csv", data)
    (tmp_path / "m.json").write_text(json.dumps(d))
    out = tmp_path / "o"
    assert main(["fit", str(tmp_path / "d.csv"), "--model", str(tmp_path / "m.json"), "--out", str(out),
                 "--epochs", "3", "--threads", "2", "--quiet"]) == 0
    assert main(["plot", str(out), "--quiet"]) == 0
    check_figures(out / "figures", ["logos", "training", "measurement", "landscape"])
    assert capsys.readouterr().err == ""


def test_protein_sites_are_heatmaps(plot, tmp_path):
    model = Model(cisreg.preset("fold-bind").with_length(12), seed=0)
    fig = plot.logos(model, path=tmp_path / "logos.png")
    check_image(tmp_path / "logos.png")
    assert any(ax.images for ax in fig.axes)  # drawn as heatmaps, not logos


# ----------------------------------------------------------------------------- MPRA counts (arrays)
def test_counts_model_from_arrays(plot, tmp_path):
    """Counts Datasets need named count columns, which the Dataset readers do not carry yet: the
    counts figure is drawn from arrays (phi and the targets [N, 2R])."""
    rng = np.random.default_rng(3)
    d = _two_state({"name": "TF", "start": 3, "width": 8}, 20,
                   {"type": "counts", "input": ["dna_0", "dna_1"], "output": ["rna_0", "rna_1"],
                    "noise": "negbin", "link": "loglinear"})
    m = Model(d, seed=2)
    m.layout.view(m.theta, "counts.log_slope")[...] = np.log(3.0)
    codes = rng.integers(0, 4, (2000, 20), dtype=np.uint8)
    phi = m.x_to_phi(codes)
    dna = rng.poisson(30, (2000, 2)).astype(float)
    depth = np.exp(m.layout.view(m.theta, "counts.log_depth"))
    rna = rng.poisson((dna + 0.5) * depth * np.exp(3.0 * phi)[:, None]).astype(float)
    targets = np.ascontiguousarray(np.concatenate([dna, rna], axis=1))
    fig = plot.phi_vs_measurement(m, phi, targets, path=tmp_path / "measurement.png")
    check_image(tmp_path / "measurement.png")
    r2 = float(fig.axes[0].get_title().rsplit("R² = ", 1)[1])
    assert r2 > 0.7  # the observed log ratio follows yhat(phi)
    m.plot_logos(tmp_path / "logos.png")
    m.plot_landscape(codes, tmp_path / "landscape.png")
    check_image(tmp_path / "logos.png")
    check_image(tmp_path / "landscape.png")


# ----------------------------------------------------------------------------- kinetic
def test_kinetic_model_cli_and_state_graph(plot, tmp_path):
    rng = np.random.default_rng(4)
    spec = cisreg.preset("activator-rnap-kinetic")
    truth = Model(spec, seed=1)
    data = cisreg.simulate.sortseq(truth, n=1500, rng=rng, bins=8)
    _write_table(tmp_path / "d.csv", data)
    out = tmp_path / "kin"
    assert main(["fit", str(tmp_path / "d.csv"), "--model", "activator-rnap-kinetic", "--out", str(out),
                 "--epochs", "2", "--threads", "2", "--quiet"]) == 0
    assert main(["plot", str(out), "--quiet", "--format", "png,svg"]) == 0
    check_figures(out / "figures", ["logos", "training", "measurement", "landscape", "state_graph"], ("png", "svg"))
    model = cisreg.load(out)
    fig = model.plot_state_graph(tmp_path / "graph.png")  # without a reference: log-rates only
    check_image(tmp_path / "graph.png")
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert sum("ln k" in t for t in labels) == len(spec.gpmap.transitions)
    assert no_pyplot_figures()


def test_circle_order_puts_neighbours_side_by_side():
    from cisreg.plot.graph import circle_order

    edges = [("empty", "A"), ("empty", "P"), ("A", "AP"), ("P", "AP")]
    assert circle_order(["empty", "A", "P", "AP"], edges) in (["empty", "A", "AP", "P"], ["empty", "P", "AP", "A"])


# ----------------------------------------------------------------------------- sliding and pair sites
def test_sliding_and_pair_sites(plot, tmp_path):
    L = 40
    d = {"alphabet": "dna", "length": L, "sites": [
        {"name": "TF", "width": 8, "slide": {"start": 0, "stop": 30, "strands": "both", "position_bias": True}},
        {"name": "P", "start": 31, "width": 6, "energy": "pairwise"},
        {"name": "N", "start": 30, "width": 10, "energy": "neighbor"}],
        "thermodynamic": {"states": [{"name": "free"}, {"name": "TF", "bound": ["TF"], "activity": 0.3},
                                     {"name": "TF+P", "bound": ["TF", "P"], "interactions": ["I"], "activity": 1},
                                     {"name": "N", "bound": ["N"]}]},
        "measurement": {"type": "sortseq", "bins": 4, "hidden": 3}}
    rng = np.random.default_rng(5)
    m = Model(d, seed=3)
    for b in m.layout:
        if b.kind in ("energy", "pair", "bias"):
            m.layout.view(m.theta, b.name)[...] = rng.normal(0, 0.5, b.shape)
    fig = m.plot_logos(tmp_path / "logos.png")
    assert any("placement bias" in ax.get_title(loc="left") for ax in fig.axes)
    m.plot_pairs("P", tmp_path / "pairs_P.png")
    m.plot_pairs("N", tmp_path / "pairs_N.svg")
    m.plot_landscape(None, tmp_path / "landscape.png", x_ref="ACGT" * 10)
    for name in ("logos.png", "pairs_P.png", "pairs_N.svg", "landscape.png"):
        check_image(tmp_path / name)
    # and the command line, without any data: the data figures are skipped with a note
    m.save(tmp_path / "m")
    assert main(["plot", str(tmp_path / "m"), "--x-wt", "ACGT" * 10, "--quiet"]) == 0
    check_figures(tmp_path / "m" / "figures", ["logos", "pairs_P", "pairs_N", "landscape"])
    assert not (tmp_path / "m" / "figures" / "measurement.png").exists()
