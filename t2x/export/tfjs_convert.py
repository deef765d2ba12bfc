"""SavedModel -> TF.js graph model, with the ``tensorflowjs`` converter, in its own process.

    python -m t2x.export.tfjs_convert SAVED_MODEL_DIR OUT_DIR SIGNATURE

Why a process of its own, and why the package is imported this way: ``tensorflowjs`` 4.22
(the latest) declares ``tensorflow`` (not ``tensorflow-cpu``), ``jax``, ``flax``,
``tf-keras`` and ``tensorflow-decision-forests``; pip resolving them beside TF 2.21 replaces
it with TF 2.19 (TF-DF 1.12 pins it). So t2x installs it without its dependencies
(``pip install --no-deps tensorflowjs==4.22.0 tensorflow-hub==0.16.1 tf-keras==2.21.0``, see the README). Its package
``__init__`` imports the JAX and Keras converters, which need JAX; the SavedModel converter
(``tf_saved_model_conversion_v2``) does not, and imports TF-DF only to register TF-DF's ops
for models that use them (ours do not). This process therefore loads the converter module
alone, with an empty stand-in for ``tensorflow_decision_forests`` when TF-DF is absent (and
``pkg_resources.parse_version`` from ``packaging`` when setuptools no longer has it);
nothing of that leaks into the exporting process.
"""

import importlib
import importlib.util
import os
import sys
import types


class TfjsUnavailable(ImportError):
    pass


def load_converter():
    spec = importlib.util.find_spec("tensorflowjs")
    if spec is None or not spec.origin:
        raise TfjsUnavailable(
            "the tensorflowjs converter is not installed: pip install --no-deps tensorflowjs==4.22.0 "
            "tensorflow-hub==0.16.1 tf-keras==2.21.0 (see the README's TF.js section)")
    root = os.path.dirname(spec.origin)
    for name, path in (("tensorflowjs", root), ("tensorflowjs.converters", os.path.join(root, "converters"))):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [path]
            sys.modules[name] = package
    if importlib.util.find_spec("tensorflow_decision_forests") is None:
        sys.modules["tensorflow_decision_forests"] = types.ModuleType("tensorflow_decision_forests")
    if importlib.util.find_spec("pkg_resources") is None:
        # The converter checks TF's version with pkg_resources.parse_version; setuptools 81+
        # no longer ships pkg_resources (apache-beam's dependencies bring such a setuptools).
        from packaging.version import parse as parse_version

        stand_in = types.ModuleType("pkg_resources")
        stand_in.parse_version = parse_version
        sys.modules["pkg_resources"] = stand_in
    return importlib.import_module("tensorflowjs.converters.tf_saved_model_conversion_v2")


def main(argv):
    saved_model_dir, out_dir, signature = argv[1:4]
    try:
        converter = load_converter()
    except TfjsUnavailable as e:
        print(str(e), file=sys.stderr)
        return 3
    converter.convert_tf_saved_model(saved_model_dir, out_dir, signature_def=signature,
                                     saved_model_tags="serve")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
