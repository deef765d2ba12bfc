"""Serving kinds: the signatures an export of each kind of problem carries (a table).

``SERVING_KINDS[kind]`` (kind: ``t2x.data.specs.problem_kind``) is a ``ServingKind``: its
``build(ctx)`` makes the ``tf.Module`` whose functions are the SavedModel's signatures, the
formats it converts to beyond ``saved_model`` and whether it decodes (takes decode
hparams). A new kind of problem (speech, images out) adds an entry here, not a branch in
``exporter.export``. The signatures of each kind are listed in ``t2x.export.exporter``'s
docstring and in each export's ``export.json``.
"""

import dataclasses
import os
from typing import Any, Callable, Dict, List, Sequence, Tuple

import tensorflow as tf

from t2x.data.problem import Mode, ProblemKind
from t2x.inference.decoder import infer_kwargs
from t2x.model import tf_variables


@dataclasses.dataclass
class ExportContext:
    """What a kind's ``build`` and a format's converter read: the restored model, the
    run's problem, hparams and data_dir, the decode hparams, the staging directory."""
    model: Any
    problem: Any
    hparams: Any
    problem_hparams: Any
    data_dir: str
    decode_hparams: Any
    staging: str
    representative_examples: int = 200
    info: Dict[str, Any] = dataclasses.field(default_factory=dict)  # export.json so far


@dataclasses.dataclass(frozen=True)
class ServingKind:
    """``build(ctx) -> (module, signature names, info for export.json, notes)``."""
    build: Callable[[ExportContext], Tuple[tf.Module, List[str], Dict[str, Any], List[str]]]
    formats: Tuple[str, ...] = ("saved_model",)
    decodes: bool = False


def _class_names(problem, data_dir, num_classes: int) -> List[str]:
    encoder = problem.get_feature_encoders(data_dir).get("targets")
    labels = getattr(encoder, "_labels", None)
    if labels and len(labels) == num_classes:
        return [str(label) for label in labels]
    return [str(i) for i in range(num_classes)]


def _signature_info(fn) -> dict:
    def spec(s):
        return {"shape": s.shape.as_list(), "dtype": s.dtype.name}

    concrete = fn.get_concrete_function()
    inputs = {s.name: spec(s) for s in concrete.structured_input_signature[1].values()} \
        if concrete.structured_input_signature[1] else \
        {s.name: spec(s) for s in concrete.structured_input_signature[0]}
    outputs = {k: spec(v) for k, v in concrete.structured_outputs.items()}
    return {"inputs": inputs, "outputs": outputs}


def _flat_probabilities(p, num_classes: int):
    """A class-label model's ``[B, 1, (1,) K]`` probabilities as ``[B, K]``."""
    return tf.reshape(p, [-1, num_classes])


def image_module(model, problem, hparams, class_names: Sequence[str]):
    """The tf.Module whose functions are the image classifier's signatures."""
    height, width, channels = problem.image_shape
    module = tf.Module()
    module.model_variables = tf_variables(model.variables)
    names = tf.constant(list(class_names))

    def standardize(images):
        return problem.preprocess_example({"inputs": images}, Mode.PREDICT, hparams)["inputs"]

    def probabilities(images):
        return _flat_probabilities(model.infer({"inputs": standardize(images)})["probabilities"],
                                   len(class_names))

    def with_names(p):
        classes = tf.argmax(p, axis=-1)
        return {"classes": classes, "class_names": tf.gather(names, classes), "probabilities": p}

    def without_names(p):
        return {"classes": tf.argmax(p, axis=-1, output_type=tf.int32), "probabilities": p}

    def decode_one(data):
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
        return tf.ensure_shape(image, (height, width, channels))

    uint8 = tf.TensorSpec([None, height, width, channels], tf.uint8, name="images")
    module.serving_default = tf.function(lambda images: with_names(probabilities(images)),
                                         input_signature=[uint8])
    module.predict_encoded = tf.function(
        lambda images: with_names(probabilities(tf.map_fn(
            decode_one, images, fn_output_signature=tf.TensorSpec((height, width, channels), tf.uint8)))),
        input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    module.predict_probabilities = tf.function(lambda images: without_names(probabilities(images)),
                                               input_signature=[uint8])
    module.predict_pixels = tf.function(
        lambda images: without_names(probabilities(images)),
        input_signature=[tf.TensorSpec([None, height, width, channels], tf.float32, name="images")])

    def features(inputs):
        return {"features": model.body(model.bottom({"inputs": inputs}))}

    module.features = tf.function(
        features, input_signature=[tf.TensorSpec([None, height, width, channels], tf.float32, name="inputs")])
    return module, ["serving_default", "predict_encoded", "predict_probabilities", "predict_pixels", "features"]


def text_module(model, problem, data_dir: str, decode_hparams, kind: str, asset_dir: str):
    """The tf.Module of a text model's signatures (see the module docstring); returns
    (module, signature names, notes)."""
    from t2x.data import graph_text

    module = tf.Module()
    module.model_variables = tf_variables(model.variables)
    encoders = problem.get_feature_encoders(data_dir)
    source = encoders["inputs" if kind != ProblemKind.LANGUAGE_MODEL else "targets"]
    graph = graph_text.graph_encoder(source, asset_dir)
    target_graph = graph
    if kind == ProblemKind.TEXT2TEXT and encoders["targets"] is not source:
        target_graph = graph_text.graph_encoder(encoders["targets"], os.path.join(asset_dir, "targets"))
    notes = []
    names = []
    ids_spec = tf.TensorSpec([None, None], tf.int64, name="inputs")
    kwargs = infer_kwargs(decode_hparams)

    if kind == "text_classifier":
        num_classes = problem.get_hparams(None, data_dir=data_dir).vocab_size["targets"]
        class_names = tf.constant(_class_names(problem, data_dir, num_classes))

        def classify(ids):
            p = _flat_probabilities(model.infer({"inputs": ids})["probabilities"], num_classes)
            classes = tf.argmax(p, axis=-1)
            return {"classes": classes, "class_names": tf.gather(class_names, classes), "probabilities": p}

        module.predict_ids = tf.function(classify, input_signature=[ids_spec])
        names = ["predict_ids"]
        if graph is not None:
            module.inputs_encoder = graph
            module.serving_default = tf.function(lambda inputs: classify(graph.encode_to_tensor(inputs)),
                                                 input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
            names = ["serving_default", "predict_ids"]
    elif kind == "text2text":
        def translate_ids(ids):
            out = model.infer({"inputs": ids}, **kwargs)
            return {"outputs": tf.cast(out["outputs"], tf.int64), "scores": out["scores"]}

        module.predict_ids = tf.function(translate_ids, input_signature=[ids_spec])
        names = ["predict_ids"]
        if graph is not None and target_graph is not None:
            module.inputs_encoder, module.targets_encoder = graph, target_graph

            def translate(inputs):
                out = translate_ids(graph.encode_to_tensor(inputs))
                return {"outputs": target_graph.decode(out["outputs"]), "scores": out["scores"]}

            text = tf.TensorSpec([None], tf.string, name="inputs")
            module.serving_default = tf.function(translate, input_signature=[text])
            module.encode = tf.function(lambda inputs: {"ids": graph.encode_to_tensor(inputs)},
                                        input_signature=[text])
            names = ["serving_default", "predict_ids", "encode"]
    else:  # language_model
        def continue_ids(prompt):
            out = model.infer({"prompt": prompt}, **kwargs)
            return {"outputs": tf.cast(out["outputs"], tf.int64), "scores": out["scores"]}

        module.predict_ids = tf.function(
            continue_ids, input_signature=[tf.TensorSpec([None, None], tf.int64, name="prompt")])
        names = ["predict_ids"]
        if graph is not None:
            module.targets_encoder = graph

            def continue_text(prompt):
                out = continue_ids(graph.encode_to_tensor(prompt, append_eos=False))
                return {"outputs": graph.decode(out["outputs"]), "scores": out["scores"]}

            module.serving_default = tf.function(
                continue_text, input_signature=[tf.TensorSpec([None], tf.string, name="prompt")])
            names = ["serving_default", "predict_ids"]
    if graph is None or target_graph is None:
        missing = source if graph is None else encoders["targets"]
        notes.append(f"No text signature: {graph_text.unsupported_reason(missing)}; "
                     "predict_ids takes and returns the vocabulary's ids.")
    return module, names, notes




def _image_classifier(ctx: ExportContext):
    num_classes = ctx.problem_hparams.vocab_size["targets"]
    class_names = _class_names(ctx.problem, ctx.data_dir, num_classes)
    module, names = image_module(ctx.model, ctx.problem, ctx.hparams, class_names)
    info = {"class_names": class_names, "image_shape": list(ctx.problem.image_shape),
            "preprocessing": "tf.image.per_image_standardization (inside the graph)"}
    return module, names, info, []


def _text(kind: str):
    def build(ctx: ExportContext):
        module, names, notes = text_module(ctx.model, ctx.problem, ctx.data_dir, ctx.decode_hparams, kind,
                                           os.path.join(ctx.staging, "vocab"))
        return module, names, {"decode_hparams": ctx.decode_hparams.values()}, notes
    return build


def _classifier(ctx: ExportContext):
    """Class labels from inputs of any registered modality: ``serving_default(inputs)`` with
    the inputs as the problem's pipeline gives them to the model (after
    ``preprocess_example``), shape and dtype from its element spec."""
    spec = ctx.problem.element_spec(Mode.EVAL, ctx.hparams)["inputs"]
    num_classes = ctx.problem_hparams.vocab_size["targets"]
    class_names = _class_names(ctx.problem, ctx.data_dir, num_classes)
    module = tf.Module()
    module.model_variables = tf_variables(ctx.model.variables)
    names = tf.constant(class_names)

    def classify(inputs):
        p = _flat_probabilities(ctx.model.infer({"inputs": inputs})["probabilities"], num_classes)
        classes = tf.argmax(p, axis=-1)
        return {"classes": classes, "class_names": tf.gather(names, classes), "probabilities": p}

    signature = tf.TensorSpec([None] + spec.shape.as_list(), spec.dtype, name="inputs")
    module.serving_default = tf.function(classify, input_signature=[signature])
    info = {"class_names": class_names,
            "inputs": {"shape": [None] + spec.shape.as_list(), "dtype": spec.dtype.name,
                       "modality": ctx.problem_hparams.modality["inputs"]}}
    return module, ["serving_default"], info, []


SERVING_KINDS: Dict[str, ServingKind] = {
    ProblemKind.IMAGE_CLASSIFIER: ServingKind(
        _image_classifier, formats=("saved_model", "tflite", "tflite_dynamic", "tflite_int8", "tfjs")),
    ProblemKind.TEXT_CLASSIFIER: ServingKind(_text(ProblemKind.TEXT_CLASSIFIER)),
    ProblemKind.TEXT2TEXT: ServingKind(_text(ProblemKind.TEXT2TEXT), decodes=True),
    ProblemKind.LANGUAGE_MODEL: ServingKind(_text(ProblemKind.LANGUAGE_MODEL), decodes=True),
    ProblemKind.CLASSIFIER: ServingKind(_classifier),
    ProblemKind.SPEECH_RECOGNITION: ServingKind(lambda ctx: _speech_build(ctx), decodes=True),
}


def _speech_build(ctx: ExportContext):
    from t2x.export import speech  # audio in, transcripts out (its own module)

    return speech.build(ctx)
