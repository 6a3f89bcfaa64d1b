"""Tabular classification or regression with scikit-learn, XGBoost or LightGBM.

Reads a CSV, Parquet or ROOT dataset, holds out a validation part (reproducible from the
seed), fits, reports validation metrics (per boosting round for XGBoost and LightGBM) and
saves the model in a format that runs no code when loaded: skops, XGBoost JSON, LightGBM
text.

ROOT datasets go through a HEP preprocessing (given, or every flat numeric branch),
read chunk by chunk so the raw events never all sit in memory; these libraries fit on an
in-memory matrix, so the float32 feature matrix (events x features) is accumulated. Labels
come from a `target` branch or from `label_by_file` (signal and background files); the
model version keeps the preprocessing, so it predicts on ROOT files straight away.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from aiplayground.catalog.schemas import ModelFormat, Objective, Signature, TensorSpec
from aiplayground.training.context import JobContext
from aiplayground.training.data import (
    DataParams,
    label_texts,
    load_training_data,
    refuse_field,
    split_rows,
)
from aiplayground.training.recipes.base import (
    JobError,
    Recipe,
    RecipeResult,
)

MAX_CLASSES_FOR_AUTO = 20


class TabularParams(DataParams):
    """Parameters of the tabular recipe."""

    library: Literal["sklearn", "xgboost", "lightgbm"] = Field(
        "sklearn", description="Library that fits the model."
    )
    task: Literal["auto", "classification", "regression"] = Field(
        "auto",
        description="auto: classification for text or integer targets with few values.",
    )
    estimator: Literal["linear", "random_forest", "gradient_boosting", "hist_gradient_boosting"] = (
        Field("linear", description="scikit-learn estimator (library=sklearn only).")
    )
    n_estimators: int = Field(100, ge=1, le=20_000, description="Trees or boosting rounds.")
    max_depth: int | None = Field(None, ge=1, le=64, description="Depth limit of trees.")
    learning_rate: float = Field(0.1, gt=0, le=1, description="Boosting learning rate.")
    regularization: float = Field(
        1.0, gt=0, description="Linear models: inverse strength C (classification), alpha."
    )
    early_stopping_rounds: int | None = Field(
        None, ge=1, description="Stop boosting after this many rounds without improvement."
    )
    validation_fraction: float = Field(0.2, ge=0.05, le=0.5, description="Rows held out.")
    seed: int = Field(0, ge=0, description="Seed of the split and of the estimator.")

    @model_validator(mode="after")
    def _classes_by_file(self) -> TabularParams:
        if self.label_by_file and self.task == "regression":
            refuse_field(
                "TabularParams", "task", "label_by_file gives classes, not a regression target"
            )
        return self


def model_format(params: TabularParams) -> ModelFormat:
    """The catalog format of the model this recipe produces."""
    return {
        "sklearn": ModelFormat.SKLEARN,
        "xgboost": ModelFormat.XGBOOST,
        "lightgbm": ModelFormat.LIGHTGBM,
    }[params.library]


def resolve_task(y: Any, task: str) -> str:
    """Classification or regression, deciding 'auto' from the target's values."""
    import pandas as pd

    if task != "auto":
        return task
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "classification"
    values = np.asarray(y)
    few = len(np.unique(values)) <= MAX_CLASSES_FOR_AUTO
    return "classification" if few and np.all(np.mod(values, 1) == 0) else "regression"


def run(ctx: JobContext, params: TabularParams) -> RecipeResult:
    """Fit, measure on the validation part, save."""
    if ctx.spec.dataset is None:
        raise JobError("the tabular recipe needs a dataset")
    xs, ys, features, extra = load_training_data(ctx, params)
    task = resolve_task(ys, params.task)
    classification = task == "classification"
    if not classification and not np.issubdtype(ys.dtype, np.number):
        raise JobError(f"regression needs a numeric target; {params.target!r} is not")
    classes = sorted(set(label_texts(ys)[0].tolist()), key=_natural) if classification else []
    if classification and len(classes) < 2:
        raise JobError(f"the labels have a single class ({classes[0]!r}); a classifier needs two")
    try:
        train, valid = split_rows(
            ys, params.validation_fraction, params.seed, stratify=classification
        )
    except ValueError as exc:
        raise JobError(f"cannot split the dataset: {exc}") from exc
    ctx.log(
        f"{len(xs)} rows, {len(features)} features, task {task}: "
        f"{len(train)} for training, {len(valid)} for validation"
    )
    fit = {"sklearn": _fit_sklearn, "xgboost": _fit_xgboost, "lightgbm": _fit_lightgbm}
    started = time.perf_counter()
    files, predicted, proba = fit[params.library](
        ctx, params, xs[train], ys[train], xs[valid], ys[valid], classes
    )
    ctx.log(f"fit and validation predictions: {time.perf_counter() - started:.2f} s")
    metrics = _metrics(ys[valid], predicted, proba, classes)
    ctx.metric(params.n_estimators, **{f"validation_{k}": v for k, v in metrics.items()})
    ctx.log("validation: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    dtype = "FP64" if params.library != "xgboost" else "FP32"
    return RecipeResult(
        format=model_format(params),
        objective=Objective.CLASSIFICATION if classification else Objective.REGRESSION,
        files=files,
        metrics=metrics,
        signature=Signature(
            inputs=[TensorSpec(name="input-0", datatype=dtype, shape=[-1, len(features)])]
        ),
        example={"instances": xs[valid][:2].tolist()},
        description=f"{params.library} {task} of {params.predicted()} on {len(features)} features",
        details={
            "features": features,
            "target": params.target,
            "task": task,
            "classes": classes,
            "rows": {"train": len(train), "validation": len(valid)},
            **extra,
        },
    )


def _natural(label: str) -> tuple[int, float | str]:
    try:
        return (0, float(label))
    except ValueError:
        return (1, label)


def _fit_sklearn(
    ctx: JobContext,
    p: TabularParams,
    x: Any,
    y: Any,
    xv: Any,
    yv: Any,
    classes: list[str],
) -> tuple[list[str], Any, Any]:
    import skops.io
    from sklearn import ensemble, linear_model
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    common: dict[str, Any] = {"random_state": p.seed}
    if classes:
        choices: dict[str, Any] = {
            "linear": lambda: linear_model.LogisticRegression(C=p.regularization, max_iter=1000),
            "random_forest": lambda: ensemble.RandomForestClassifier(
                p.n_estimators, max_depth=p.max_depth, n_jobs=ctx.threads, **common
            ),
            "gradient_boosting": lambda: ensemble.GradientBoostingClassifier(
                n_estimators=p.n_estimators,
                learning_rate=p.learning_rate,
                max_depth=p.max_depth or 3,
                **common,
            ),
            "hist_gradient_boosting": lambda: ensemble.HistGradientBoostingClassifier(
                max_iter=p.n_estimators, learning_rate=p.learning_rate, max_depth=p.max_depth
            ),
        }
    else:
        choices = {
            "linear": lambda: linear_model.Ridge(alpha=p.regularization),
            "random_forest": lambda: ensemble.RandomForestRegressor(
                p.n_estimators, max_depth=p.max_depth, n_jobs=ctx.threads, **common
            ),
            "gradient_boosting": lambda: ensemble.GradientBoostingRegressor(
                n_estimators=p.n_estimators,
                learning_rate=p.learning_rate,
                max_depth=p.max_depth or 3,
                **common,
            ),
            "hist_gradient_boosting": lambda: ensemble.HistGradientBoostingRegressor(
                max_iter=p.n_estimators, learning_rate=p.learning_rate, max_depth=p.max_depth
            ),
        }
    estimator = choices[p.estimator]()
    if p.estimator == "linear" and np.isnan(x).any():
        # An imputer would store types skops does not trust by default (numpy.dtype).
        raise JobError(
            "the features have missing values, which linear models cannot take: "
            "choose the hist_gradient_boosting estimator, xgboost or lightgbm"
        )
    # Linear models need scaled inputs; tree models take the raw values.
    model = make_pipeline(StandardScaler(), estimator) if p.estimator == "linear" else estimator
    model.fit(x, y)
    skops.io.dump(model, ctx.output_dir / "model.skops")
    proba = model.predict_proba(xv) if classes and hasattr(model, "predict_proba") else None
    predicted = np.array([str(v) for v in model.predict(xv)])
    if proba is not None:
        # predict_proba's columns follow the estimator's own class order.
        order = [str(c) for c in model.classes_]
        proba = proba[:, [order.index(c) for c in classes]]
    return ["model.skops"], predicted, proba


def _fit_xgboost(
    ctx: JobContext,
    p: TabularParams,
    x: Any,
    y: Any,
    xv: Any,
    yv: Any,
    classes: list[str],
) -> tuple[list[str], Any, Any]:
    import xgboost as xgb

    codes, codes_v = _encode(y, classes), _encode(yv, classes)
    objective, metric = "reg:squarederror", "rmse"
    extra: dict[str, Any] = {}
    if len(classes) == 2:
        objective, metric = "binary:logistic", "logloss"
    elif classes:
        objective, metric, extra = "multi:softprob", "mlogloss", {"num_class": len(classes)}
    booster_params = {
        "objective": objective,
        "eval_metric": metric,
        "eta": p.learning_rate,
        "max_depth": p.max_depth or 6,
        "nthread": ctx.threads,
        "seed": p.seed,
        **extra,
    }
    train = xgb.DMatrix(x, label=codes if classes else y)
    valid = xgb.DMatrix(xv, label=codes_v if classes else yv)
    total = p.n_estimators

    class Report(xgb.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            value = evals_log["validation"][metric][-1]
            ctx.metric(epoch + 1, **{f"validation_{metric}": float(value)})
            ctx.progress((epoch + 1) / total)
            return False

    booster = xgb.train(
        booster_params,
        train,
        num_boost_round=total,
        evals=[(valid, "validation")],
        early_stopping_rounds=p.early_stopping_rounds,
        callbacks=[Report()],
        verbose_eval=False,
    )
    booster.save_model(str(ctx.output_dir / "model.json"))
    scores = booster.predict(valid)
    return ["model.json"], *_decode(scores, classes)


def _fit_lightgbm(
    ctx: JobContext,
    p: TabularParams,
    x: Any,
    y: Any,
    xv: Any,
    yv: Any,
    classes: list[str],
) -> tuple[list[str], Any, Any]:
    import lightgbm as lgb

    codes, codes_v = _encode(y, classes), _encode(yv, classes)
    objective, metric = "regression", "rmse"
    extra: dict[str, Any] = {}
    if len(classes) == 2:
        objective, metric = "binary", "binary_logloss"
    elif classes:
        objective, metric, extra = "multiclass", "multi_logloss", {"num_class": len(classes)}
    booster_params = {
        "objective": objective,
        "metric": metric,
        "learning_rate": p.learning_rate,
        "max_depth": p.max_depth or -1,
        "num_threads": ctx.threads,
        "seed": p.seed,
        "verbosity": -1,
        **extra,
    }
    train = lgb.Dataset(x, label=codes if classes else y)
    valid = lgb.Dataset(xv, label=codes_v if classes else yv, reference=train)
    total = p.n_estimators

    def report(env: Any) -> None:
        for _, name, value, _ in env.evaluation_result_list:
            ctx.metric(env.iteration + 1, **{f"validation_{name}": float(value)})
        ctx.progress((env.iteration + 1) / total)

    callbacks = [report]
    if p.early_stopping_rounds:
        callbacks.append(lgb.early_stopping(p.early_stopping_rounds, verbose=False))
    booster = lgb.train(
        booster_params,
        train,
        num_boost_round=total,
        valid_sets=[valid],
        valid_names=["validation"],
        callbacks=callbacks,
    )
    booster.save_model(str(ctx.output_dir / "model.txt"))
    scores = booster.predict(xv)
    return ["model.txt"], *_decode(scores, classes)


def _strings(values: Any) -> Any:
    """Each value as its label text."""
    texts, inverse = label_texts(values)
    return texts[inverse]


def _encode(y: Any, classes: list[str]) -> Any:
    if not classes:
        return y
    index = {c: i for i, c in enumerate(classes)}
    texts, inverse = label_texts(y)
    return np.array([index[t] for t in texts.tolist()], dtype=np.int64)[inverse]


def _decode(scores: Any, classes: list[str]) -> tuple[Any, Any]:
    """Predicted labels and class probabilities from a booster's raw scores."""
    if not classes:
        return scores, None
    scores = np.asarray(scores)
    proba = np.column_stack([1 - scores, scores]) if scores.ndim == 1 else scores
    return np.array(classes)[proba.argmax(axis=1)], proba


def _metrics(y: Any, predicted: Any, proba: Any, classes: list[str]) -> dict[str, float]:
    from sklearn import metrics as m

    if not classes:
        y, predicted = np.asarray(y, dtype=float), np.asarray(predicted, dtype=float)
        return {
            "rmse": float(np.sqrt(m.mean_squared_error(y, predicted))),
            "mae": float(m.mean_absolute_error(y, predicted)),
            "r2": float(m.r2_score(y, predicted)),
        }
    truth = _strings(y)
    labels = _strings(predicted)
    result = {
        "accuracy": float(m.accuracy_score(truth, labels)),
        "f1_macro": float(m.f1_score(truth, labels, average="macro", labels=classes)),
    }
    if proba is not None:
        result["log_loss"] = float(m.log_loss(truth, proba, labels=classes))
        if len(classes) == 2:
            result["roc_auc"] = float(m.roc_auc_score(truth == classes[1], proba[:, 1]))
    return result


RECIPE = Recipe(
    name="tabular",
    title="Tabular classification or regression",
    description=__doc__ or "",
    params=TabularParams,
    run=run,
    model_format=model_format,
    dataset_formats=("csv", "parquet", "root"),
)
