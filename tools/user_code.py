"""Code as a user writes it against cisreg's public API: tools/lint.sh checks it with
mypy --strict (the package ships py.typed), so that the API's types are what users get."""

from __future__ import annotations

import numpy as np

import cisreg


def main() -> float:
    data: cisreg.Dataset = cisreg.load_example("lac-sortseq")
    result: cisreg.FitResult = cisreg.fit(data, cisreg.preset("lac"), epochs=2, n_threads=1, quiet=True)
    model: cisreg.Model = result.model
    phi: np.ndarray = model.x_to_phi(data.codes[:10])
    test: dict[str, float] = cisreg.evaluate(model, data)["test"]
    print(phi.shape, sorted(result.history))
    return float(test["I_pred_bits"])


if __name__ == "__main__":
    main()
