"""Which searched parameters mattered: Optuna's fANOVA importances over a search's trials."""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["param_importances"]


def param_importances(trials: pd.DataFrame, columns: list[str], metric: str) -> dict[str, float]:
    """Optuna's fANOVA importances of the searched columns for `metric` ({} when too few trials)."""
    import optuna

    t = trials.dropna(subset=[metric])
    usable = [c for c in columns if t[c].nunique(dropna=True) > 1]
    if len(t) < 3 or not usable:
        return {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists: dict[str, Any] = {}
    for c in usable:
        vals = t[c].dropna()
        if pd.api.types.is_numeric_dtype(vals) and not pd.api.types.is_bool_dtype(vals):
            dists[c] = optuna.distributions.FloatDistribution(float(vals.min()), float(vals.max()))
        else:
            dists[c] = optuna.distributions.CategoricalDistribution(sorted(map(str, vals.unique())))
    study = optuna.create_study(direction="maximize")
    for _, row in t.iterrows():
        params = {}
        for c, d in dists.items():
            if pd.isna(row[c]):
                break
            params[c] = str(row[c]) if isinstance(d, optuna.distributions.CategoricalDistribution) else float(row[c])
        else:
            study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=float(row[metric])))
    if len(study.trials) < 3:
        return {}
    try:
        # fANOVA, seeded: the global share of variance (Optuna 5's default, PED-ANOVA, measures
        # what matters within the top trials only)
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        return {k: float(v) for k, v in optuna.importance.get_param_importances(study, evaluator=evaluator).items()}
    except (RuntimeError, ValueError):
        return {}
