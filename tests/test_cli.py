"""The command line, through subprocesses, as users and scripts call it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import cisreg

LAC_JSON = {
    "alphabet": "ACGT", "length": 75,
    "sites": [{"name": "CRP", "start": 1, "width": 26}, {"name": "RNAP", "start": 34, "width": 41}],
    "thermodynamic": {"states": [
        {"name": "free", "bound": []},
        {"name": "CRP", "bound": ["CRP"]},
        {"name": "RNAP", "bound": ["RNAP"], "activity": 1},
        {"name": "CRP+RNAP", "bound": ["CRP", "RNAP"], "interactions": ["dG_I"], "activity": 1}]},
    "measurement": {"type": "sortseq", "bins": 10, "hidden": 50},
}


def run(*args, timeout=300):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "cisreg", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="module")
def fitted_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "lac_model"
    r = run("fit", "--example", "lac-sortseq", "--out", out, "--epochs", "2", "--threads", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    return out


def test_fit_example_writes_model_directory(fitted_dir):
    assert {p.name for p in fitted_dir.iterdir()} >= {"model.json", "params.npz", "report.json"}
    rep = json.loads((fitted_dir / "report.json").read_text())
    assert rep["status"] == "complete"
    assert rep["fit"]["epochs_run"] == 2
    for split in ("training", "validation", "test"):
        m = rep["metrics"][split]
        assert {"I_var_bits", "I_pred_bits", "dI_pred_bits", "nll_per_read_nats"} <= set(m)
    p = rep["parameters"]
    assert "dG_I" in p["uniform"]["kcal/mol"]["interactions"]
    ratio = p["uniform"]["kcal/mol"]["interactions"]["dG_I"] / p["uniform"]["kT"]["interactions"]["dG_I"]
    assert ratio == pytest.approx(0.6163, rel=1e-3)  # 1 kT at 37 C in kcal/mol
    assert len(p["uniform"]["kT"]["energies"]["CRP"]["values"]) == 26
    mj = json.loads((fitted_dir / "model.json").read_text())
    assert mj["format"] == "cisreg-model" and mj["spec"]["sites"][0]["name"] == "CRP"


def test_fit_with_model_file_and_table(tmp_path):
    import cisreg

    data = cisreg.load_example()
    rows = np.arange(0, data.n, 10)
    df = pd.DataFrame({"x": data.x[rows], **{f"ct_{i}": data.counts[rows, i].astype(int) for i in range(10)}})
    table = tmp_path / "small.tsv"
    df.to_csv(table, sep="\t", index=False)
    spec = tmp_path / "lac.json"
    spec.write_text(json.dumps(LAC_JSON))
    r = run("fit", table, "--model", spec, "--out", tmp_path / "m", "--epochs", "2", "--seed", "3", "--batch-size",
            "200", "--learning-rate", "0.005", "--restarts", "2")
    assert r.returncode == 0, r.stderr
    assert "I_pred" in r.stdout and "dG_I" in r.stdout
    rep = json.loads((tmp_path / "m" / "report.json").read_text())
    assert rep["fit"]["seed"] == 3 and rep["fit"]["batch_size"] == 200 and len(rep["restarts"]["runs"]) == 2
    assert rep["data"]["training"] == pytest.approx(0.6 * len(rows), abs=2)  # random split without a set column
    toml = tmp_path / "lac.toml"
    toml.write_text('length = 75\nalphabet = "ACGT"\n[[sites]]\nname = "CRP"\nstart = 1\nwidth = 26\n'
                    '[[sites]]\nname = "RNAP"\nstart = 34\nwidth = 41\n'
                    '[[thermodynamic.states]]\nname = "free"\nbound = []\n'
                    '[[thermodynamic.states]]\nname = "RNAP"\nbound = ["RNAP"]\nactivity = 1\n'
                    '[measurement]\ntype = "sortseq"\nbins = 10\nhidden = 5\n')
    r = run("fit", table, "--model", toml, "--out", tmp_path / "t", "--epochs", "1", "--quiet")
    assert r.returncode == 0, r.stderr


def test_predict_and_info(fitted_dir, tmp_path):
    import cisreg

    data = cisreg.load_example()
    x = list(data.x[:50]) + [data.x[0].lower()]
    (tmp_path / "in.csv").write_text("x,other\n" + "\n".join(f"{s},{i}" for i, s in enumerate(x)) + "\n")
    r = run("predict", fitted_dir, tmp_path / "in.csv", "--out", tmp_path / "pred.csv")
    assert r.returncode == 0, r.stderr
    out = pd.read_csv(tmp_path / "pred.csv")
    assert list(out.columns[:2]) == ["x", "phi"] and len(out) == 51
    model = cisreg.load(fitted_dir)
    np.testing.assert_allclose(out["phi"].to_numpy(), model.x_to_phi([s.upper() for s in x]), rtol=1e-9)
    assert out["x"][50] == data.x[0]
    r = run("info", fitted_dir)
    assert r.returncode == 0 and "dG_I" in r.stdout and "I_pred" in r.stdout
    r = run("info", fitted_dir, "--json")
    doc = json.loads(r.stdout)
    assert doc["model"]["length"] == 75 and "dG_I" in doc["parameters_kT_uniform_gauge"]["interactions"]


def _one_line_error(r, match):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.startswith("cisreg: error:")]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert match in lines[0], lines[0]


def test_cli_errors(tmp_path, fitted_dir):
    bad = tmp_path / "bad.csv"
    bad.write_text("x,ct_0,ct_1\nACGT,1,0\nACGX,0,1\n")
    _one_line_error(run("fit", bad, "--model", "lac", "--out", tmp_path / "o"), "row 1")
    neg = tmp_path / "neg.csv"
    neg.write_text("x,ct_0,ct_1\nACGT,1,0\nACGA,-1,1\n")
    _one_line_error(run("fit", neg, "--model", "lac", "--out", tmp_path / "o"), "negative")
    _one_line_error(run("fit", tmp_path / "missing.csv", "--model", "lac", "--out", tmp_path / "o"), "not found")
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({**LAC_JSON, "colour": "red"}))
    _one_line_error(run("fit", "--example", "lac-sortseq", "--model", spec, "--out", tmp_path / "o"), "colour")
    _one_line_error(run("fit", "--example", "lac-sortseq", "--model", "nosuch", "--out", tmp_path / "o"),
                    "not found")
    _one_line_error(run("fit", "--example", "lac-sortseq", "--out", tmp_path / "o", "--epochs", "0"), "--epochs")
    _one_line_error(run("fit", "--out", tmp_path / "o"), "exactly one of DATA")
    _one_line_error(run("predict", tmp_path, bad, "--out", tmp_path / "p.csv"), "model.json")
    short = tmp_path / "short.csv"
    short.write_text("x\nACGT\n")
    _one_line_error(run("predict", fitted_dir, short, "--out", tmp_path / "p.csv"), "length")
    _one_line_error(run("info", tmp_path / "nowhere"), "not a directory")
    r = run("fit", bad, "--model", "lac", "--out", tmp_path / "o", "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_cli_output_hygiene(tmp_path, fitted_dir):
    # argparse errors are one line too
    r = run("predict", fitted_dir)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--help" in r.stderr
    # a missing output directory is named, no temporary file name leaks
    (tmp_path / "x.csv").write_text("x\n" + "A" * 75 + "\n")
    _one_line_error(run("predict", fitted_dir, tmp_path / "x.csv", "--out", tmp_path / "nodir" / "p.csv"),
                    "does not exist")
    # an unrelated non-empty directory is not written into
    other = tmp_path / "other"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    _one_line_error(run("fit", "--example", "lac-sortseq", "--out", other, "--epochs", "1"), "thesis.tex")
    assert (other / "thesis.tex").read_text() == "precious"
    # a closed pipe is not an error
    p = subprocess.Popen([sys.executable, "-m", "cisreg", "info", str(fitted_dir), "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.read(10)
    p.stdout.close()
    with p.stderr:
        err = p.stderr.read().decode()
    p.wait(timeout=60)
    assert "Traceback" not in err and "Broken pipe" not in err


def test_outputs_never_replace_inputs_or_escape_out(tmp_path, fitted_dir):
    """predict refuses to write over its own input (or into the model directory's place), and
    compare refuses a --name that is a path, before any work is done."""
    from cisreg.cli import main

    src = tmp_path / "in.csv"
    src.write_text("x\n" + "A" * 75 + "\n")
    before = src.read_bytes()
    for out in (src, tmp_path / "." / "in.csv", fitted_dir):
        assert main(["predict", str(fitted_dir), str(src), "--out", str(out)]) == 2
    assert src.read_bytes() == before and (fitted_dir / "model.json").is_file()
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    for name in ("../victim", "a/b", "..", ".hidden", ""):
        rc = main(["compare", "--example", "lac-sortseq", "--model", "lac", "--model", "lac", "--name", name,
                   "--name", "ok", "--out", str(tmp_path / "cmp"), "--epochs", "1", "--quiet"])
        assert rc == 2, name
    assert not (tmp_path / "cmp").exists() and (victim / "keep.txt").read_text() == "mine"


def test_info_does_not_show_a_report_of_other_parameters(fitted_dir, tmp_path, capsys):
    """report.json names the parameters it describes: a directory caught between the writes
    of two fits (new parameters, old report) is reported as such, not summarised."""
    import shutil

    from cisreg.cli import main

    d = tmp_path / "m"
    shutil.copytree(fitted_dir, d)
    assert main(["info", str(d)]) == 0
    assert "I_pred" in capsys.readouterr().out
    rep = json.loads((d / "report.json").read_text())
    rep["model"]["params_sha256"] = "1" * 64
    (d / "report.json").write_text(json.dumps(rep))
    assert main(["info", str(d)]) == 0
    cap = capsys.readouterr()
    assert "describes other parameters" in cap.err and "I_pred" not in cap.out


def test_a_misspelled_example_is_named(tmp_path, capsys):
    from cisreg.cli import main

    assert main(["fit", "--example", "lac-sortsq", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "unknown example 'lac-sortsq'" in err and "lac-sortseq" in err and "--model is required" not in err


def test_every_subcommand_and_option_has_help():
    import argparse

    from cisreg.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = [(name, a.dest) for name, sp in sub.choices.items() for a in sp._actions
               if not isinstance(a, argparse._HelpAction) and not a.help]
    assert not missing, missing
    assert all(c.help for c in sub._choices_actions)


def test_one_command_feeds_the_next_and_errors_name_their_file(tmp_path, fitted_dir):
    """design's output (column 'sequence') is predict's input; a wrong length names the file;
    a missing sequence column gives the command-line option; info and compare count the
    parameters the same way (report.json says how many are trained)."""
    wt = cisreg.load_example("lac-sortseq").x[0]
    r = run("design", fitted_dir, "--wt", wt, "--target", "0.4", "--n", "3", "--out", tmp_path / "designs.csv")
    assert r.returncode == 0, r.stderr
    assert "sequence" in pd.read_csv(tmp_path / "designs.csv").columns
    r = run("predict", fitted_dir, tmp_path / "designs.csv", "--out", tmp_path / "pred.csv")
    assert r.returncode == 0, r.stderr
    pred, designs = pd.read_csv(tmp_path / "pred.csv"), pd.read_csv(tmp_path / "designs.csv")
    np.testing.assert_allclose(pred["phi"], designs["phi"], rtol=1e-6)

    (tmp_path / "short.csv").write_text("x\nACGT\n")
    r = run("predict", fitted_dir, tmp_path / "short.csv", "--out", tmp_path / "p2.csv")
    assert r.returncode == 2 and "short.csv" in r.stderr and "length 4" in r.stderr, r.stderr
    (tmp_path / "seqs.csv").write_text(f"seq\n{wt}\n")
    r = run("predict", fitted_dir, tmp_path / "seqs.csv", "--out", tmp_path / "p3.csv")
    assert r.returncode == 2 and "--x-col" in r.stderr, r.stderr
    r = run("predict", fitted_dir, tmp_path / "seqs.csv", "--out", tmp_path / "p3.csv", "--x-col", "seq")
    assert r.returncode == 0, r.stderr

    rep = json.loads((fitted_dir / "report.json").read_text())
    assert rep["model"]["n_trained"] == rep["model"]["n_params"] - 1  # t_sat is not trained
    r = run("info", fitted_dir)
    assert f"{rep['model']['n_params']} parameters, {rep['model']['n_trained']} trained" in r.stdout
    from cisreg.compare import compare

    res = compare(cisreg.load_example("lac-sortseq"), [cisreg.load(fitted_dir)] * 2, names=["a", "b"], n_threads=2,
                  epochs=1, uncertainty=False, n_boot=100)
    assert list(res.table["parameters"]) == [rep["model"]["n_trained"]] * 2
