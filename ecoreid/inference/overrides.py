"""A person's recorded decisions applied to assignments (:func:`apply_overrides`).

Examples
--------
>>> import pandas as pd
>>> apply_overrides(pd.DataFrame({"image": []}), None, threshold=0.5)["decision"].tolist()
[]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .ranking import TOP

__all__ = ["apply_overrides"]


def apply_overrides(assign: pd.DataFrame, overrides: pd.DataFrame | None, *, threshold: float) -> pd.DataFrame:
    """Respect recorded decisions: a confirmed photo keeps its individual, rejected candidates are dropped.

    Examples
    --------
    >>> import pandas as pd
    >>> apply_overrides(pd.DataFrame({"image": []}), None, threshold=0.5).columns.tolist()
    ['image', 'decision']
    """
    a = assign.copy()
    a["decision"] = "proposed"
    if overrides is None or not len(overrides) or not len(a):
        return a
    pos = {img: i for i, img in enumerate(a["image"])}
    ov = overrides.copy()
    ov["image"] = ov["image"].astype(str)
    for rec in ov.to_dict("records"):
        i = pos.get(rec["image"])
        if i is None:
            continue
        dec, ind = str(rec.get("decision", "")), str(rec.get("individual_id", ""))
        if dec in ("confirm", "new") and ind:
            a.loc[i, ["proposed_individual", "is_new", "score", "decision"]] = [ind, False, 1.0, "confirmed"]
        elif dec == "reject" and ind:
            cands = [(a.loc[i, f"candidate_{r}"], a.loc[i, f"score_{r}"]) for r in range(1, TOP + 1)]
            cands = [(c, sc) for c, sc in cands if c and c != ind] + [("", np.nan)]
            cands = (cands + [("", np.nan)] * TOP)[:TOP]
            for r, (c, sc) in enumerate(cands, start=1):
                a.loc[i, f"candidate_{r}"], a.loc[i, f"score_{r}"] = c, sc
            best, bs = cands[0]
            a.loc[i, "best_individual"] = best
            if a.loc[i, "decision"] != "confirmed":
                a.loc[i, "score"] = 0.0 if not best else float(bs)
                if not best or float(bs) < threshold:
                    a.loc[i, "is_new"] = True
                elif a.loc[i, "proposed_individual"] == ind:
                    a.loc[i, "proposed_individual"] = best
    return a
