"""The fit report (report.json) and its one-screen human summary."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..data.dataset import Dataset
from ..models.model import Model, kT_in_kcal
from .result import FitResult


def consensus_sequence(data: Dataset) -> str:
    """The library's reference: the most common letter at each position of the
    training sequences (the wild type of a mutagenised library)."""
    train = data.indices("training")
    counts = np.zeros((data.length, len(data.alphabet)))
    step = 1 << 20  # in pieces: no copy of all training codes of a large (memory-mapped) library
    for i in range(0, len(train), step):
        codes = np.asarray(data.codes[train[i : i + step]])
        for a in range(len(data.alphabet)):  # loop over letters, not rows
            counts[:, a] += (codes == a).sum(axis=0)
    return "".join(data.alphabet[i] for i in counts.argmax(axis=1))


def physical_parameters(model: Model, *, x_ref: str | None, temperature_c: float = 37.0) -> dict[str, Any]:
    """Energy matrices, offsets, pair energies, placement biases and interactions in kT
    and kcal/mol, in the uniform gauge and (when a reference sequence is known) relative
    to the reference. Sliding sites' matrices are indexed by motif position (their
    "first_position" is 0) and are in the uniform gauge in both."""
    out: dict[str, Any] = {"temperature_c": temperature_c, "kT_in_kcal_per_mol": kT_in_kcal(temperature_c),
                           "alphabet": model.alphabet}
    gauges = [("uniform", None)] + ([("reference", x_ref)] if x_ref else [])
    for gname, xr in gauges:
        g: dict[str, Any] = {}
        for units in ("kT", "kcal/mol"):
            th = model.get_theta(gauge="wt" if xr else "uniform", x_wt=xr, units=units,
                                 temperature_c=temperature_c)
            g[units] = {
                "energies": {k: {"first_position": int(v.index[0]), "values": v.to_numpy().tolist()}
                             for k, v in th["energies"].items()},
                "offsets": th["offsets"],
                "interactions": th["interactions"],
            }
            if th["pair_energies"]:
                g[units]["pair_energies"] = {k: {"pairs": [list(p) for p in v["pairs"]],
                                                 "values": np.asarray(v["values"]).tolist()}
                                             for k, v in th["pair_energies"].items()}
            if th["biases"]:
                g[units]["biases"] = {k: {"strands": list(v.index), "first_position": int(v.columns[0]),
                                          "values": v.to_numpy().tolist()} for k, v in th["biases"].items()}
        if xr:
            g["reference_sequence"] = xr
        out[gname] = g
    th = model.get_theta()
    out["log_rates"] = th["log_rates"]
    out["activities"] = th["activities"]
    out["t_sat"] = th["t_sat"]
    return out


def restart_spread(result: FitResult) -> dict[str, Any]:
    """How much the physical parameters differ between restarts."""
    runs = result.restarts
    spread: dict[str, Any] = {}
    if not runs:
        return spread
    keys = sorted({k for r in runs for k in r["interactions_kcal_mol"]})
    for k in keys:
        vals = [r["interactions_kcal_mol"][k] for r in runs if k in r["interactions_kcal_mol"]]
        spread[f"{k} (kcal/mol)"] = {"min": min(vals), "max": max(vals), "sd": float(np.std(vals))}
    best = min(range(len(runs)), key=lambda i: runs[i]["best_val_nll"] if math.isfinite(runs[i]["best_val_nll"])
               else math.inf)
    for site, E in runs[best]["_energies"].items():
        rs = [float(np.corrcoef(E.ravel(), r["_energies"][site].ravel())[0, 1]) for r in runs]
        spread[f"energy matrix {site}: Pearson r with the best restart"] = rs
    return spread


def params_hash(theta: Any) -> str:
    """The SHA-256 of a parameter vector as params.npz stores it (model.json records the same,
    so a report.json names the parameters it describes)."""
    from ..models.io import _theta_hash

    return _theta_hash(theta)


#: Below this many bits of I_pred on held-out rows (or within its uncertainty of 0), and with
#: no gain of likelihood over a sequence-blind model, a fitted model explains nothing (status
#: "degenerate").
DEGENERATE_I_PRED_BITS = 0.002

DEGENERATE_ADVICE = ("check that the measurements vary with sequence; then try a smaller --l2 (or 0), more "
                     "--restarts, another link or measurement process, or a model with fewer parameters")


def degenerate_reason(metrics: dict[str, Any]) -> str | None:
    """Why a fitted model explains nothing on held-out data (the validation rows, else the
    test rows), or None: phi is the same for every sequence; or phi carries no information
    about their measurements (I_pred at most DEGENERATE_I_PRED_BITS or within its
    uncertainty of 0) and the model predicts them no better than a sequence-blind one
    (I_var <= 0, where the measurement process reports it)."""
    split = next((s for s in ("validation", "test") if isinstance(metrics.get(s), dict)), None)
    if split is None:
        return None
    m = metrics[split]

    def num(key: str) -> float | None:
        v = m.get(key)
        return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None

    if num("phi_sd") == 0.0:
        return f"phi is the same for every sequence of the {split} rows (a sequence-blind model)"
    i_pred, di, i_var = num("I_pred_bits"), num("dI_pred_bits") or 0.0, num("I_var_bits")
    if i_pred is not None and i_pred <= max(DEGENERATE_I_PRED_BITS, di) and (i_var is None or i_var <= 0.0):
        var = f", I_var = {i_var:.4f} bits" if i_var is not None else ""
        return (f"phi carries no information about the measurements of the {split} rows "
                f"(I_pred = {i_pred:.4f} ± {di:.4f} bits{var})")
    return None


def build_report(result: FitResult, data: Dataset, metrics: dict[str, Any], *, model_name: str,
                 temperature_c: float = 37.0) -> dict[str, Any]:
    from .. import __version__

    model = result.model
    x_ref = consensus_sequence(data)
    status = "interrupted" if result.interrupted else ("diverged" if result.diverged else "complete")
    reason = degenerate_reason(metrics) if status == "complete" else None
    if reason is not None:
        status = "degenerate"
    runs = [{k: v for k, v in r.items() if not k.startswith("_")} for r in result.restarts]
    return {
        "cisreg_version": __version__,
        "status": status,
        "stop_reason": result.stop_reason,
        **({"degenerate": {"reason": reason, "advice": DEGENERATE_ADVICE}} if reason is not None else {}),
        "model": {"name": model_name, "kind": model.spec.kind, "states": list(model.state_names),
                  "nodes": model.compiled.info.get("nodes", 0), "n_params": model.layout.size,
                  "n_trained": int(model.layout.trainable_mask().sum()),
                  "params_sha256": params_hash(model.theta),
                  "compile": {k: v for k, v in model.compiled.info.items() if isinstance(v, (int, str))}},
        "data": {"source": data.source, "sequences": data.n, "length": data.length,
                 "training": len(data.indices("training")), "validation": len(data.indices("validation")),
                 "test": len(data.indices("test")), "notes": list(data.notes)},
        "fit": {**result.settings, "epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
                "wall_s": result.wall_s, "history": result.history},
        "metrics": metrics,
        "parameters": physical_parameters(model, x_ref=x_ref, temperature_c=temperature_c),
        "restarts": {"runs": runs, "spread": restart_spread(result)},
        **({"uncertainty": {k: u.to_report(temperature_c) for k, u in result.uncertainty.items()}}
           if result.uncertainty else {}),
    }


def summary_lines(report: dict[str, Any]) -> list[str]:
    """A short human summary of a report."""
    L = []
    d, f, m = report["data"], report["fit"], report["metrics"]
    comp = report["model"].get("compile", {})
    solver = f", {comp['solver']} solver" + (f" ({comp['trees']} spanning trees)" if "trees" in comp else "") \
        if "solver" in comp else ""
    n_trained = report["model"].get("n_trained")  # the parameters the fit trains (t_sat is fixed)
    trained = f", {n_trained} trained" if isinstance(n_trained, int) and n_trained != report["model"]["n_params"] \
        else ""
    L.append(f"model {report['model']['name']} ({report['model']['kind']}{solver}, {len(report['model']['states'])} "
             f"states, {report['model']['n_params']} parameters{trained}) on {d['sequences']:,} sequences "
             f"({d['training']:,} training / {d['validation']:,} validation / {d['test']:,} test)")
    L.append(f"status: {report['status']} ({report['stop_reason']}); {f['epochs_run']} epochs, best at "
             f"{f['best_epoch']}; {f['wall_s']:.1f} s on {f['n_threads']} thread(s)")
    if "degenerate" in report:
        L.append(f"degenerate: {report['degenerate']['reason']}; {report['degenerate']['advice']}")
    for split in ("training", "validation", "test"):
        if split not in m:
            continue
        s = m[split]
        parts = []
        if "I_pred_bits" in s:
            parts.append(f"I_pred = {s['I_pred_bits']:.3f} ± {s.get('dI_pred_bits', 0):.3f} bits")
        if "I_var_bits" in s:
            parts.append(f"I_var = {s['I_var_bits']:.3f} bits")
        if "R2" in s:
            parts.append(f"R² = {s['R2']:.3f}")
        L.append(f"  {split:<10} " + ", ".join(parts))
    r_sign = m.get("test", m.get("validation", {})).get("phi_vs_mean_bin_r")
    if r_sign is not None and r_sign == r_sign and r_sign < 0:
        L.append("  warning: phi decreases with the bin index on held-out data; the energy matrices may carry "
                 "the wrong sign (try --restarts, or check that bins are ordered by fluorescence)")
    p = report["parameters"]
    g = p.get("reference", p["uniform"])
    kc, kt = g["kcal/mol"], g["kT"]
    unc = report.get("uncertainty", {})
    method = "bootstrap" if "bootstrap" in unc else ("laplace" if "laplace" in unc else None)

    def pm(group: str, name: str, units: str) -> str:
        """' ± se [lo, hi]' from the report's uncertainty, when there is one."""
        if method is None:
            return ""
        u = unc[method].get(units, {}).get(group, {}).get(name)
        if u is None:
            return ""
        return f" ± {u['se']:.2f} ({unc[method]['level']:.0%} interval {u['lo']:+.2f} to {u['hi']:+.2f}, {method})"

    for k, v in kc["interactions"].items():
        L.append(f"  {k} = {v:+.2f}{pm('interactions', k, 'kcal/mol')} kcal/mol ({kt['interactions'][k]:+.2f} kT at "
                 f"{p['temperature_c']:g} °C)")
    what = "dG of the library's reference sequence" if "reference" in p else "offset (uniform gauge)"
    for k, v in kc["offsets"].items():
        L.append(f"  {what}, {k}: {v:+.2f}{pm('offsets', k, 'kcal/mol')} kcal/mol")
    for k, v in p.get("log_rates", {}).items():
        L.append(f"  log rate {k} = {v:+.3f}{pm('log_rates', k, 'kT')}")
    sp = report["restarts"]["spread"]
    if len(report["restarts"]["runs"]) > 1:
        for k, v in sp.items():
            if isinstance(v, dict):
                L.append(f"  restarts: {k} from {v['min']:+.2f} to {v['max']:+.2f}")
    return L
