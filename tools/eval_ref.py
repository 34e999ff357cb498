#!/usr/bin/env python3
"""Reference computations for the eval layer tests (tests/eval): scipy's linear_sum_assignment and
scikit-learn's LogisticRegression. Each subcommand reads a JSON input written by the C++ test and writes JSON.

  eval_ref.py lsa IN.json OUT.json      IN: {"problems": [{"rows", "cols", "cost": [...row-major], "maximize"}]}
                                        OUT: {"results": [{"row_ind": [...], "col_ind": [...], "total": x}]}
  eval_ref.py logreg IN.json OUT.json   IN: {"x_train": [[...]], "y_train": [...], "x_test": [[...]], "y_test": [...],
                                              "Cs": [c, ...], "standardize": bool}
                                        OUT: {"results": [{"coef": [[...]], "intercept": [...], "train_acc",
                                              "test_acc", "pred_test": [...]} per C]}
"""
import json
import sys

import numpy as np


def cmd_lsa(inp, out):
    from scipy.optimize import linear_sum_assignment
    res = []
    for p in json.load(open(inp))["problems"]:
        c = np.asarray(p["cost"], dtype=np.float64).reshape(p["rows"], p["cols"])
        r, k = linear_sum_assignment(c, maximize=bool(p.get("maximize", False)))
        res.append({"row_ind": r.tolist(), "col_ind": k.tolist(), "total": float(c[r, k].sum())})
    json.dump({"results": res}, open(out, "w"))


def cmd_logreg(inp, out_path):
    from sklearn.linear_model import LogisticRegression
    d = json.load(open(inp))
    xtr = np.asarray(d["x_train"], dtype=np.float64)
    ytr = np.asarray(d["y_train"], dtype=np.int64)
    xte = np.asarray(d["x_test"], dtype=np.float64)
    yte = np.asarray(d["y_test"], dtype=np.int64)
    if d.get("standardize", True):
        mu, sd = xtr.mean(0), xtr.std(0)
        sd[sd == 0] = 1.0
        xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    # lbfgs with the multinomial loss (the default for >2 classes in scikit-learn >= 1.5); tight tolerance so the
    # coefficients are the optimum, not an early stop.
    out = []
    for C in d["Cs"]:
        m = LogisticRegression(C=float(C), solver="lbfgs", max_iter=10000, tol=1e-10)
        m.fit(xtr, ytr)
        out.append({"coef": m.coef_.tolist(), "intercept": m.intercept_.tolist(),
                    "train_acc": float(m.score(xtr, ytr)), "test_acc": float(m.score(xte, yte)),
                    "pred_test": m.predict(xte).tolist()})
    json.dump({"results": out}, open(out_path, "w"))


if __name__ == "__main__":
    {"lsa": cmd_lsa, "logreg": cmd_logreg}[sys.argv[1]](sys.argv[2], sys.argv[3])
