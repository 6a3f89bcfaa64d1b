"""A multilayer-perceptron classifier in PyTorch, data-parallel over N processes (DDP).

Runs as one process or under torchrun (gloo on CPU, NCCL on GPUs). Features are
standardized on the training part; every epoch ends with a checkpoint, and a retried job
resumes from the last one. The result is an ONNX graph (scaling, layers, softmax and
argmax; outputs `predict` and `predict_proba`) that runs no code when loaded.

Takes CSV, Parquet or ROOT datasets. ROOT files go through a HEP preprocessing chunk by
chunk (labels from a branch or one per file); the float32 feature matrix is then held in
memory so every epoch shuffles over all events, and the model version keeps the
preprocessing, so it predicts on ROOT files straight away.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
from pydantic import Field

from aiplayground.catalog.schemas import ModelFormat, Objective, Signature, TensorSpec
from aiplayground.training.context import JobContext
from aiplayground.training.data import (
    DataParams,
    load_training_data,
    split_rows,
)
from aiplayground.training.recipes.base import (
    JobError,
    Recipe,
    RecipeResult,
)

CHECKPOINT = "last.pt"
COLLECTIVE_TIMEOUT_S = 300
ONNX_OPSET = 17


class MlpParams(DataParams):
    """Parameters of the MLP recipe."""

    hidden_layers: list[int] = Field(
        default_factory=lambda: [64, 64], max_length=8, description="Width of each hidden layer."
    )
    epochs: int = Field(30, ge=1, le=100_000, description="Passes over the training part.")
    batch_size: int = Field(64, ge=1, le=65_536, description="Rows per step and process.")
    learning_rate: float = Field(1e-2, gt=0, le=10, description="Adam's learning rate.")
    weight_decay: float = Field(0.0, ge=0, le=1, description="L2 penalty.")
    validation_fraction: float = Field(0.2, ge=0.05, le=0.5, description="Rows held out.")
    seed: int = Field(0, ge=0, description="Seed of the split, initialization and shuffling.")


def model_format(params: MlpParams) -> ModelFormat:
    """An ONNX graph."""
    return ModelFormat.ONNX


def run(ctx: JobContext, params: MlpParams) -> RecipeResult:
    """Train with DDP when started by torchrun, checkpointing every epoch."""
    import torch
    import torch.distributed as dist

    if any(width < 1 or width > 4096 for width in params.hidden_layers):
        raise JobError("hidden layer widths must be between 1 and 4096")
    if ctx.spec.dataset is None:
        raise JobError("the MLP recipe needs a dataset")
    distributed = ctx.world_size > 1
    use_cuda = ctx.spec.gpus > 0 and torch.cuda.is_available()
    device = torch.device(f"cuda:{ctx.local_rank}" if use_cuda else "cpu")
    if distributed:
        # A peer that died must fail the collectives soon (torchrun then restarts the group),
        # not hold the others for gloo's default half hour.
        timeout = timedelta(seconds=COLLECTIVE_TIMEOUT_S)
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timeout)
    torch.set_num_threads(ctx.threads)
    torch.manual_seed(params.seed)
    try:
        return _train(ctx, params, device, distributed)
    finally:
        if distributed:
            dist.destroy_process_group()


def _train(ctx: JobContext, p: MlpParams, device: Any, distributed: bool) -> RecipeResult:
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

    assert ctx.spec.dataset is not None
    raw, y, features, extra = load_training_data(ctx, p, np.float32)
    labels = np.array([str(v) for v in y])
    classes = sorted(set(labels.tolist()))
    if len(classes) < 2:
        raise JobError(f"the labels have a single class ({classes[0]!r}); a classifier needs two")
    train, valid = split_rows(labels, p.validation_fraction, p.seed, stratify=True)
    xs = np.nan_to_num(raw)
    mean = xs[train].mean(axis=0)
    std = xs[train].std(axis=0)
    std[std == 0] = 1.0
    codes = np.searchsorted(np.array(classes), labels)
    scaled = (xs - mean) / std

    net = _network(len(features), p.hidden_layers, len(classes)).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=p.learning_rate, weight_decay=p.weight_decay)
    start = _resume(ctx, net, optimizer)
    model = DistributedDataParallel(net) if distributed else net
    train_set = TensorDataset(torch.from_numpy(scaled[train]), torch.from_numpy(codes[train]))
    sampler: Any = (
        DistributedSampler(train_set, ctx.world_size, ctx.rank, shuffle=True, seed=p.seed)
        if distributed
        else None
    )
    loader = DataLoader(
        train_set,
        batch_size=p.batch_size,
        sampler=sampler,
        shuffle=sampler is None,
        generator=torch.Generator().manual_seed(p.seed),
    )
    xv = torch.from_numpy(scaled[valid]).to(device)
    yv = torch.from_numpy(codes[valid]).to(device)
    loss_fn = torch.nn.CrossEntropyLoss()
    ctx.log(
        f"{len(train)} training rows over {ctx.world_size} process(es), {len(valid)} validation, "
        f"{len(classes)} classes; epochs {start + 1}..{p.epochs}"
    )
    metrics: dict[str, float] = {}
    for epoch in range(start, p.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        model.train()
        total = torch.zeros(2, device=device)
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += torch.stack([loss.detach() * len(yb), torch.tensor(len(yb), device=device)])
        if distributed:
            dist.all_reduce(total)
        model.eval()
        with torch.no_grad():
            logits = net(xv)
            metrics = {
                "train_loss": float(total[0] / total[1]),
                "validation_loss": float(loss_fn(logits, yv)),
                "validation_accuracy": float((logits.argmax(1) == yv).float().mean()),
            }
        ctx.metric(epoch + 1, **metrics)
        ctx.progress((epoch + 1) / p.epochs)
        if ctx.is_main:
            _checkpoint(ctx, net, optimizer, epoch)
        if distributed:
            dist.barrier()
    if ctx.is_main:
        _export_onnx(net, mean, std, ctx.output_dir / "model.onnx")
    ctx.log("validation: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    return RecipeResult(
        format=ModelFormat.ONNX,
        objective=Objective.CLASSIFICATION,
        files=["model.onnx"],
        metrics={
            "accuracy": metrics.get("validation_accuracy", float("nan")),
            "log_loss": metrics.get("validation_loss", float("nan")),
        },
        signature=Signature(
            inputs=[TensorSpec(name="input-0", datatype="FP32", shape=[-1, len(features)])],
            outputs=[
                TensorSpec(name="predict", datatype="INT64", shape=[-1]),
                TensorSpec(name="predict_proba", datatype="FP32", shape=[-1, len(classes)]),
            ],
        ),
        example={"instances": xs[valid][:2].tolist()},
        description=(
            f"MLP {p.hidden_layers} classifier of {p.predicted()} on {len(features)} features"
        ),
        details={
            "features": features,
            "target": p.target,
            "classes": classes,
            "processes": ctx.world_size,
            "epochs": p.epochs,
            **extra,
        },
    )


def _network(inputs: int, hidden: list[int], outputs: int) -> Any:
    import torch

    layers: list[Any] = []
    width = inputs
    for size in hidden:
        layers += [torch.nn.Linear(width, size), torch.nn.ReLU()]
        width = size
    layers.append(torch.nn.Linear(width, outputs))
    return torch.nn.Sequential(*layers)


def _resume(ctx: JobContext, net: Any, optimizer: Any) -> int:
    """The epoch to start from: after the last checkpoint, if there is one."""
    import torch

    path = ctx.checkpoint_dir / CHECKPOINT
    if not path.is_file():
        return 0
    # weights_only: a checkpoint is data this job wrote, and it is loaded as data only.
    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    epoch = int(state["epoch"]) + 1
    ctx.log(f"resumed from the checkpoint of epoch {epoch}")
    ctx.metric(epoch, resumed_from_epoch=epoch)
    return epoch


def _checkpoint(ctx: JobContext, net: Any, optimizer: Any, epoch: int) -> None:
    import torch

    path = ctx.checkpoint_dir / CHECKPOINT
    tmp = path.with_suffix(".tmp")
    torch.save(
        {"model": net.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}, tmp
    )
    tmp.replace(path)  # a kill mid-write leaves the previous checkpoint intact


def _export_onnx(net: Any, mean: Any, std: Any, path: Any) -> None:
    """Write the network as a plain ONNX graph (no exporter, no custom operators)."""
    from onnx import TensorProto, checker, helper, numpy_helper, save

    initializers = [
        numpy_helper.from_array(mean.astype(np.float32), "mean"),
        numpy_helper.from_array(std.astype(np.float32), "std"),
    ]
    nodes = [
        helper.make_node("Sub", ["input-0", "mean"], ["centered"]),
        helper.make_node("Div", ["centered", "std"], ["h0"]),
    ]
    linears = [m for m in net if hasattr(m, "weight")]
    current = "h0"
    for i, layer in enumerate(linears):
        w = layer.weight.detach().cpu().numpy().astype(np.float32)
        b = layer.bias.detach().cpu().numpy().astype(np.float32)
        initializers += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        out = f"z{i}"
        nodes.append(helper.make_node("Gemm", [current, f"w{i}", f"b{i}"], [out], transB=1))
        if i < len(linears) - 1:
            nodes.append(helper.make_node("Relu", [out], [f"h{i + 1}"]))
            out = f"h{i + 1}"
        current = out
    nodes += [
        helper.make_node("Softmax", [current], ["predict_proba"], axis=1),
        helper.make_node("ArgMax", [current], ["predict"], axis=1, keepdims=0),
    ]
    n_in, n_out = linears[0].in_features, linears[-1].out_features
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("input-0", TensorProto.FLOAT, ["batch", n_in])],
        [
            helper.make_tensor_value_info("predict", TensorProto.INT64, ["batch"]),
            helper.make_tensor_value_info("predict_proba", TensorProto.FLOAT, ["batch", n_out]),
        ],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    model.ir_version = 8
    checker.check_model(model)
    save(model, str(path))


RECIPE = Recipe(
    name="mlp",
    title="Neural-network classifier (PyTorch MLP, DDP)",
    description=__doc__ or "",
    params=MlpParams,
    run=run,
    model_format=model_format,
    dataset_formats=("csv", "parquet", "root"),
    distributed=True,
)
