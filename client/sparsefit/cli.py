"""The `sparsefit` command: upload, fit, select, models, show, predict and export from a terminal."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from sparsefit.client import Client
from sparsefit.errors import SparsefitError
from sparsefit.models import Model
from sparsefit.resources import Dataset, Job
from sparsefit.selections import Selection
from sparsefit.transport import DEFAULT_URL
from sparsefit.version import __version__

Command = Callable[[Client, argparse.Namespace], int]
# How many nonzero coefficients `show` lists before it says how many more there are.
SHOWN_COEFFICIENTS = 30


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; 0 on success, 1 when the service refused, 2 for a local mistake."""
    args = parser().parse_args(argv)
    try:
        with Client(args.url, args.api_key, timeout=args.timeout) as client:
            command: Command = args.command
            return command(client, args)
    except SparsefitError as error:
        kind = f" [{error.type}]" if error.type.startswith("/problems/") else ""
        print(f"sparsefit: error: {error.message}{kind}", file=sys.stderr)
        return 1
    except (OSError, ValueError, TypeError, ImportError) as error:
        print(f"sparsefit: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="sparsefit", description="Sparse GLMs on a Sparsefit service.")
    top.add_argument("--version", action="version", version=f"sparsefit-client {__version__}")
    top.add_argument("--url", default=None, help=f"the service (default: $SPARSEFIT_URL or {DEFAULT_URL})")
    top.add_argument("--api-key", default=None, help="API key (default: $SPARSEFIT_API_KEY)")
    top.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    commands = top.add_subparsers(title="commands", required=True, metavar="COMMAND")

    upload = _command(commands, "upload", upload_command, "store a CSV, Parquet or svmlight file")
    upload.add_argument("file", help="a .csv, .parquet, .svm, .svmlight or .libsvm file, optionally .gz")
    upload.add_argument("--name", help="the dataset's name (default: the file name)")

    fit = _command(commands, "fit", fit_command, "train a model on a file or a stored dataset")
    fit.add_argument("dataset", metavar="FILE_OR_ID", help="a table file (uploaded first) or a dataset id")
    _fit_options(fit)

    select = _command(
        commands, "select", select_command, "stability selection, knockoffs or bootstrap on a table"
    )
    select.add_argument("dataset", metavar="FILE_OR_ID", help="a table file (uploaded first) or a dataset id")
    _select_options(select)

    _command(commands, "datasets", datasets_command, "list the datasets")
    _command(commands, "models", models_command, "list the models")
    show = _command(commands, "show", show_command, "a model's selection, coefficients and metrics")
    show.add_argument("model", metavar="MODEL", help="a model id")

    predict = _command(commands, "predict", predict_command, "predict the rows of a file")
    predict.add_argument("model", metavar="MODEL", help="a model id")
    predict.add_argument("file", help="a .csv, .parquet or svmlight file of rows")
    predict.add_argument("--alpha", type=float, help="predict at this alpha of the stored path")
    predict.add_argument("--output", "-o", help="write the predictions here (CSV; default: stdout)")

    export = _command(commands, "export", export_command, "the model as ONNX or a JSON scoring document")
    export.add_argument("model", metavar="MODEL", help="a model id")
    export.add_argument("--format", choices=["onnx", "json"], default="onnx")
    export.add_argument("--output", "-o", help="write it here (default: stdout)")
    return top


def _command(commands: Any, name: str, function: Command, summary: str) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = commands.add_parser(name, help=summary, description=summary)
    command.set_defaults(command=function)
    command.add_argument("--json", action="store_true", help="print the service's JSON documents")
    return command


def _fit_options(fit: argparse.ArgumentParser) -> None:
    fit.add_argument("--target", "-y", required=True, help="the column to predict")
    fit.add_argument("--name", help="the job's and model's name")
    fit.add_argument("--features", help="comma-separated columns to use (default: all but the target)")
    fit.add_argument("--family", choices=["gaussian", "binomial", "multinomial"])
    fit.add_argument("--penalty", choices=["lasso", "ridge", "elasticnet"])
    fit.add_argument("--l1-ratio", type=float, help="the L1 share of an elastic net, in (0, 1)")
    fit.add_argument("--alpha", type=float, help="fit at this alpha only (default: a path chosen by CV)")
    fit.add_argument("--cv", type=int, metavar="FOLDS", help="cross-validation folds (default 10)")
    fit.add_argument("--rule", choices=["min", "1se"], help="how CV picks alpha (default 1se)")
    fit.add_argument("--missing", choices=["error", "mean"], help="missing values: refuse or impute")
    fit.add_argument("--wait", action="store_true", help="follow the job and print the model")
    fit.add_argument("--no-progress", action="store_true", help="no progress bar while waiting")


def _select_options(select: argparse.ArgumentParser) -> None:
    select.add_argument("--target", "-y", required=True, help="the column to explain")
    select.add_argument("--kind", choices=["stability", "knockoffs", "bootstrap"], default="stability")
    select.add_argument("--name", help="the job's name")
    select.add_argument("--features", help="comma-separated columns to use (default: all but the target)")
    select.add_argument("--family", choices=["gaussian", "binomial", "multinomial"])
    select.add_argument("--pfer", type=float, help="stability: expected false selections (default 1)")
    select.add_argument("--threshold", type=float, help="stability: probability cut-off in (0.5, 1)")
    select.add_argument("--pairs", type=int, help="stability: subsample pairs (default 50)")
    select.add_argument("--fdr", type=float, help="knockoffs: target false discovery rate (default 0.1)")
    select.add_argument("--replicates", type=int, help="bootstrap: replicates (default 100)")
    select.add_argument("--seed", type=int, help="the subsamples', knockoffs' or replicates' seed")
    select.add_argument("--no-progress", action="store_true", help="no progress bar while waiting")


def select_options(args: argparse.Namespace) -> dict[str, Any]:
    """The JobCreate fields of a selection job the command line set."""
    options: dict[str, Any] = {}
    for field in ("name", "family"):
        if getattr(args, field) is not None:
            options[field] = getattr(args, field)
    if args.features:
        options["features"] = [name.strip() for name in args.features.split(",") if name.strip()]
    by_kind = {
        "stability": {"pfer": args.pfer, "threshold": args.threshold, "n_pairs": args.pairs},
        "knockoffs": {"fdr": args.fdr},
        "bootstrap": {"replicates": args.replicates},
    }
    parameters = {key: value for key, value in by_kind[args.kind].items() if value is not None}
    if args.seed is not None:
        parameters["seed"] = args.seed
    if parameters:
        options[args.kind] = parameters
    return options


def select_command(client: Client, args: argparse.Namespace) -> int:
    progress = sys.stderr.isatty() and not args.no_progress
    selection = client.select(
        args.dataset, args.target, args.kind, wait=True, progress=progress, **select_options(args)
    )
    if args.json:
        return _print_json(selection.info)
    write_selection(selection, sys.stdout)
    return 0


def write_selection(selection: Selection, out: TextIO) -> None:
    """A selection for people: what was selected, and the evidence of the strongest features."""
    info = selection.info
    out.write(f"{selection.id}  {selection.kind} of {selection.target}: {len(selection.selected)} selected\n")
    out.write(f"selected: {', '.join(selection.selected) or '(none)'}\n")
    bounds = {
        "stability": ("threshold", "pfer", "pfer_bound"),
        "knockoffs": ("fdr", "threshold", "method"),
        "bootstrap": ("alpha", "level", "replicates"),
    }.get(selection.kind, ())
    shown = ", ".join(f"{key}={_number(info.get(key))}" for key in bounds)
    if shown:
        out.write(shown + "\n")
    for entry in info["features"][:SHOWN_COEFFICIENTS]:
        evidence = ", ".join(
            f"{k}={_number(v)}" for k, v in entry.items() if k != "feature" and v is not None
        )
        out.write(f"  {entry['feature']:<30} {evidence}\n")
    if len(info["features"]) > SHOWN_COEFFICIENTS:
        out.write(f"  ... and {len(info['features']) - SHOWN_COEFFICIENTS} more (--json shows all)\n")


def upload_command(client: Client, args: argparse.Namespace) -> int:
    dataset = client.upload(args.file, name=args.name)
    if args.json:
        return _print_json(dataset.info)
    print(_dataset_line(dataset))
    return 0


def fit_command(client: Client, args: argparse.Namespace) -> int:
    options = fit_options(args)
    if not args.wait:
        job = client.fit(args.dataset, args.target, wait=False, **options)
        if args.json:
            return _print_json(job.info)
        print(_job_line(job))
        return 0
    progress = sys.stderr.isatty() and not args.no_progress
    model = client.fit(args.dataset, args.target, wait=True, progress=progress, **options)
    if args.json:
        return _print_json(model.info)
    print(_model_line(model))
    return 0


def fit_options(args: argparse.Namespace) -> dict[str, Any]:
    """The JobCreate fields the command line set (the service's defaults for the others)."""
    options: dict[str, Any] = {}
    for field in ("name", "family", "penalty", "l1_ratio", "alpha", "missing"):
        value = getattr(args, field)
        if value is not None:
            options[field] = value
    if args.features:
        options["features"] = [name.strip() for name in args.features.split(",") if name.strip()]
    cv: dict[str, Any] = {}
    if args.cv is not None:
        cv["folds"] = args.cv
    if args.rule is not None:
        cv["rule"] = args.rule
    if cv:
        options["cv"] = cv
    return options


def datasets_command(client: Client, args: argparse.Namespace) -> int:
    datasets = client.datasets(limit=1000)
    if args.json:
        return _print_json([d.info for d in datasets])
    for dataset in datasets:
        print(_dataset_line(dataset))
    return 0


def models_command(client: Client, args: argparse.Namespace) -> int:
    models = client.models(limit=1000)
    if args.json:
        return _print_json([m.info for m in models])
    for model in models:
        print(_model_line(model))
    return 0


def show_command(client: Client, args: argparse.Namespace) -> int:
    model = client.model(args.model)
    if args.json:
        return _print_json(model.info)
    write_model(model, sys.stdout)
    return 0


def write_model(model: Model, out: TextIO) -> None:
    """A model for people: what it is, what it selected, its nonzero coefficients and its metrics."""
    info = model.info
    out.write(_model_line(model) + "\n")
    out.write(f"target: {model.target}   dataset: {info.get('dataset_id')}   job: {info.get('job_id')}\n")
    out.write(f"intercept: {_number(model.intercept)}\n")
    nonzero = [c for c in info["coefficients"] if _nonzero(c["value"])]
    out.write(f"selected features ({len(model.selected_features)}): {', '.join(model.selected_features)}\n")
    out.write(f"nonzero coefficients ({len(nonzero)}):\n")
    for entry in nonzero[:SHOWN_COEFFICIENTS]:
        out.write(f"  {entry['feature']:<30} {_number(entry['value'])}\n")
    if len(nonzero) > SHOWN_COEFFICIENTS:
        out.write(f"  ... and {len(nonzero) - SHOWN_COEFFICIENTS} more (--json shows all)\n")
    for split, values in (info.get("metrics") or {}).items():
        if values:
            shown = ", ".join(f"{k}={_number(v)}" for k, v in values.items())
            out.write(f"{split} metrics: {shown}\n")


def predict_command(client: Client, args: argparse.Namespace) -> int:
    model = client.model(args.model)
    answer = model.predictions(args.file, alpha=args.alpha)
    text = json.dumps(answer) + "\n" if args.json else predictions_csv(answer)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def predictions_csv(answer: dict[str, Any]) -> str:
    """`prediction` per row, and a `probability_<class>` column per class for a classifier."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    classes = answer.get("classes") or []
    probabilities = answer.get("probabilities")
    writer.writerow(
        ["prediction", *(f"probability_{c}" for c in classes)] if probabilities else ["prediction"]
    )
    for k, value in enumerate(answer["predictions"]):
        writer.writerow([_cell(value), *(map(repr, probabilities[k]) if probabilities else ())])
    return out.getvalue()


def export_command(client: Client, args: argparse.Namespace) -> int:
    model = client.model(args.model)
    content = model.export("onnx") if args.format == "onnx" else _json_bytes(model.export("json"))
    if args.output:
        Path(args.output).write_bytes(content)
        print(f"wrote {args.output} ({len(content):,} bytes)", file=sys.stderr)
    elif args.format == "onnx" and sys.stdout.isatty():
        raise ValueError("ONNX is binary: give --output FILE, or redirect stdout")
    else:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
    return 0


def _json_bytes(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def _print_json(document: Any) -> int:
    print(json.dumps(document, indent=2))
    return 0


def _dataset_line(dataset: Dataset) -> str:
    shape = f"{dataset.n_rows} rows x {dataset.n_columns} columns ({dataset.storage})"
    return f"{dataset.id}  {dataset.name or '-'}  {shape}"


def _job_line(job: Job) -> str:
    return f"{job.id}  {job.status}  {job.name or '-'}"


def _model_line(model: Model) -> str:
    rule = (model.info.get("selection") or {}).get("rule")
    chosen = f" ({rule})" if rule else ""
    return (
        f"{model.id}  {model.name or '-'}  {model.family} {model.penalty}  alpha={model.alpha:.6g}{chosen}  "
        f"{len(model.selected_features)} selected"
    )


def _number(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_number(v) for v in value) + "]"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _nonzero(value: Any) -> bool:
    return any(v != 0 for v in value) if isinstance(value, list) else value != 0


def _cell(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


if __name__ == "__main__":
    sys.exit(main())
