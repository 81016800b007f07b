"""The whole early exit of one sample as one ONNX graph: the exit test runs inside the graph.

At batch size 1 the segment loop (`fastbert.ort_runtime`) pays a fixed cost per `session.run`,
once per layer it runs: measured here about 0.15-0.3 ms a segment, so that at speed 0 seven
calls cost 1.2-1.3x the one-graph full model. This graph is stitched from the exported segments
(the same nodes and weights, names prefixed per segment) with one ONNX `If` per layer:

    hidden = embeddings(input_ids)
    layer 1 -> probs_1;  if entropy(probs_1) < threshold: return probs_1.., exit 1
    else: layer 2 -> probs_2;  if ...: return ..., exit 2
    else: ... layer L -> probs_L; return probs_1..L, exit L

The layers are exported for a sample without padding (`UnpaddedLayerSegment`: no attention
mask to build or apply, in the layer nor in its classifier), since a lone sample has none.
Inputs: input_ids, [token_type_ids] (1, T); threshold (1,) = speed * log(num_labels), the form
`entropy_criterion` compares against; temperatures (L,). Outputs: layer_probs (L, 1, C),
NaN for the layers not run, and exit_layer (1,), 1-based. One sample only: an `If` needs one
condition, and a batch shrinks as its samples leave, which the segment loop does.

The test is sum(p log max(p, 1e-30)) > -threshold: the same comparison as -sum(p log p) <
threshold (negation is exact), and `torch.special.entr(p).sum(-1)` within float rounding (a
probability of 0 adds 0 in both).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

EXIT_GRAPH = "exit_graph.onnx"
OUTPUTS = ("layer_probs", "exit_layer")


def _const(name: str, value: np.ndarray):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(value), name)


def _entropy_test(i: int):
    """Nodes: cond_i = sum(p_i log max(p_i, tiny)) > -threshold; u_i = p_i as (1, 1, C)."""
    from onnx import helper

    p = f"l{i}/probs"
    return [
        helper.make_node("Clip", [p, "tiny"], [f"x{i}/clipped"]),
        helper.make_node("Log", [f"x{i}/clipped"], [f"x{i}/log"]),
        helper.make_node("Mul", [p, f"x{i}/log"], [f"x{i}/plogp"]),
        helper.make_node("ReduceSum", [f"x{i}/plogp", "last_axis"], [f"x{i}/sum"], keepdims=0),
        helper.make_node("Greater", [f"x{i}/sum", "neg_threshold"], [f"cond{i}"]),
        helper.make_node("Unsqueeze", [p, "first_axis"], [f"u{i}"]),
    ]


def _layer_nodes(layer, i: int, source: str):
    """Layer i's nodes (names prefixed "l{i}/"), fed from `source` and the shared inputs."""
    from onnx import helper

    wires = [helper.make_node("Identity", [source], [f"l{i}/hidden"]),
             helper.make_node("Slice", ["temperatures", f"at{i}", f"at{i + 1}"], [f"l{i}/temperature"])]
    return wires + list(layer.graph.node)


def _outputs(tag: str):
    """The two outputs of a (sub)graph: `tag`/layer_probs and `tag`/exit_layer."""
    from onnx import TensorProto, helper

    return [helper.make_tensor_value_info(f"{tag}/layer_probs", TensorProto.FLOAT, None),
            helper.make_tensor_value_info(f"{tag}/exit_layer", TensorProto.INT64, None)]


def _returning(i: int, num_layers: int, tag: str):
    """A branch that returns the probabilities of layers 1..i+1 (NaN after) and exit i+1."""
    from onnx import helper

    pieces = [f"u{k}" for k in range(i + 1)] + ([f"nan{i}"] if i + 1 < num_layers else [])
    nodes = [helper.make_node("Concat", pieces, [f"{tag}/layer_probs"], axis=0),
             helper.make_node("Identity", [f"exit{i}"], [f"{tag}/exit_layer"])]
    return nodes, _outputs(tag)


def _from_layer(layers, i: int, source: str, tag: str):
    """(nodes, initializers, outputs) of the graph that runs layer i onwards and returns at the
    first exit. Each layer's weights live in the graph that runs it: ONNX Runtime folds constants
    (such as a weight's transpose) only within the graph that holds them."""
    from onnx import helper

    nodes = _layer_nodes(layers[i], i, source) + _entropy_test(i)
    weights = list(layers[i].graph.initializer)
    if i == len(layers) - 1:
        ret, outputs = _returning(i, len(layers), tag)
        return nodes + ret, weights, outputs
    then_nodes, then_out = _returning(i, len(layers), f"then{i}")
    else_nodes, else_weights, else_out = _from_layer(layers, i + 1, f"l{i}/next_hidden", f"else{i}")
    branch = helper.make_node(
        "If", [f"cond{i}"], [f"{tag}/layer_probs", f"{tag}/exit_layer"],
        then_branch=helper.make_graph(then_nodes, f"exit_at_{i + 1}", [], then_out),
        else_branch=helper.make_graph(else_nodes, f"after_{i + 1}", [], else_out, else_weights))
    return nodes + [branch], weights, _outputs(tag)


def build_exit_graph(embeddings: str | Path, layer_files, manifest, num_labels: int):
    """The exit graph (an onnx.ModelProto) stitched from the embeddings segment and one
    (hidden, temperature) -> (next_hidden, probs) file per layer."""
    import onnx
    from onnx import TensorProto, compose, helper

    L = manifest.num_layers
    emb = compose.add_prefix(onnx.load(str(embeddings)), "e/")
    layers = [compose.add_prefix(onnx.load(str(f)), f"l{i}/") for i, f in enumerate(layer_files)]
    consts = [_const("tiny", np.array(1e-30, np.float32)), _const("last_axis", np.array([-1], np.int64)),
              _const("first_axis", np.array([0], np.int64))]
    consts += [_const(f"at{k}", np.array([k], np.int64)) for k in range(L + 1)]
    consts += [_const(f"exit{k}", np.array([k + 1], np.int64)) for k in range(L)]
    consts += [_const(f"nan{k}", np.full((L - k - 1, 1, num_labels), np.nan, np.float32)) for k in range(L - 1)]
    names = list(manifest.embedding_inputs)
    nodes = [helper.make_node("Identity", [n], [f"e/{n}"]) for n in names] + list(emb.graph.node)
    nodes.append(helper.make_node("Neg", ["threshold"], ["neg_threshold"]))
    body, first_weights, _ = _from_layer(layers, 0, "e/hidden", "out")
    nodes += body
    nodes += [helper.make_node("Identity", [f"out/{n}"], [n]) for n in OUTPUTS]
    tokens = ["batch", "tokens"]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, tokens) for n in names]
    inputs += [helper.make_tensor_value_info("threshold", TensorProto.FLOAT, [1]),
               helper.make_tensor_value_info("temperatures", TensorProto.FLOAT, [L])]
    outputs = [helper.make_tensor_value_info("layer_probs", TensorProto.FLOAT, [L, 1, num_labels]),
               helper.make_tensor_value_info("exit_layer", TensorProto.INT64, [1])]
    initializers = list(emb.graph.initializer) + first_weights + consts
    graph = helper.make_graph(nodes, "fastbert_exit", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=list(layers[0].opset_import))
    model.ir_version = layers[0].ir_version
    return model


def write_exit_graph(directory: str | Path, embeddings, layer_files, manifest, num_labels: int) -> Path:
    """Build the exit graph and save it as `directory`/exit_graph.onnx; returns the path."""
    import onnx

    path = Path(directory) / EXIT_GRAPH
    onnx.save(build_exit_graph(embeddings, layer_files, manifest, num_labels), str(path))
    return path
