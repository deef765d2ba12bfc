import re

import pytest

from t2x import registry
from t2x.hparam import HParams


@pytest.fixture
def cleanup():
    names = []
    yield names
    for reg, name in names:
        reg.unregister(name)


def test_default_names_are_snake_case():
    assert registry.default_name("ImageMnist") == "image_mnist"
    assert registry.default_name("LSTMSeq2seqAttention") == "lstm_seq2seq_attention"
    assert registry.default_name("Transformer") == "transformer"
    assert registry.default_name("ShakeShake") == "shake_shake"
    assert registry.default_name("basic_fc_small") == "basic_fc_small"


def test_register_with_and_without_name(cleanup):
    @registry.register_model
    class MyTestNetA:
        pass

    @registry.register_model()
    class MyTestNetB:
        pass

    @registry.register_model("custom_test_net")
    class MyTestNetC:
        pass

    @registry.register_hparams
    def my_test_hparams_set():
        return HParams(a=1)

    cleanup += [(registry.models, "my_test_net_a"), (registry.models, "my_test_net_b"),
                (registry.models, "custom_test_net"), (registry.hparams_sets, "my_test_hparams_set")]
    assert registry.model("my_test_net_a") is MyTestNetA
    assert registry.model("my_test_net_b") is MyTestNetB
    assert registry.model("custom_test_net") is MyTestNetC
    assert MyTestNetC.registered_name == "custom_test_net"
    assert registry.hparams("my_test_hparams_set")().a == 1
    assert {"my_test_net_a", "my_test_net_b", "custom_test_net"} <= set(registry.list_models())
    assert "my_test_hparams_set" in registry.list_hparams()


def test_registering_twice_is_an_error(cleanup):
    @registry.register_hparams
    def twice_registered_set():
        return HParams()

    cleanup.append((registry.hparams_sets, "twice_registered_set"))
    with pytest.raises(registry.RegistryError, match="'twice_registered_set' is already registered"):
        registry.register_hparams("twice_registered_set")(lambda: HParams())


def test_miss_names_its_registry_and_closest_names():
    with pytest.raises(registry.RegistryError) as e:
        registry.problem("image_mnst")
    msg = str(e.value)
    assert "not in the problems registry" in msg
    assert "did you mean image_mnist" in msg
    assert "--registry_help" in msg


def test_miss_suggests_only_names_of_the_same_registry():
    # basic_params1 is an hparams set; a problem lookup must not offer it.
    with pytest.raises(registry.RegistryError) as e:
        registry.problem("basic_params")
    assert "basic_params1" not in str(e.value)
    with pytest.raises(registry.RegistryError) as e:
        registry.hparams("basic_params")
    assert "hparams sets registry" in str(e.value) and "did you mean basic_params1" in str(e.value)


def test_miss_with_suffix_keeps_the_full_name():
    with pytest.raises(registry.RegistryError, match="'image_mnst_rev'.*did you mean image_mnist"):
        registry.problem("image_mnst_rev")


def test_parse_problem_name_rev_and_copy():
    assert registry.parse_problem_name("image_mnist") == ("image_mnist", False, False)
    assert registry.parse_problem_name("image_mnist_rev") == ("image_mnist", True, False)
    assert registry.parse_problem_name("image_mnist_copy") == ("image_mnist", False, True)
    assert registry.parse_problem_name("image_mnist_rev_copy") == ("image_mnist", True, True)
    with pytest.raises(registry.RegistryError, match="'_rev' twice"):
        registry.parse_problem_name("x_rev_rev")


def test_problem_instances_carry_the_variant():
    p = registry.problem("image_mnist_rev")
    assert p.name == "image_mnist" and p.was_reversed and not p.was_copy
    assert p.full_name == "image_mnist_rev"
    assert registry.problem("image_mnist_copy").was_copy


def test_ranged_hparams_registry(cleanup):
    from t2x.hparam import RangedHParams

    @registry.register_ranged_hparams
    def my_test_range(rhp):
        rhp.set_float("learning_rate", 0.01, 1.0, scale=rhp.LOG)
        rhp.set_discrete("hidden_size", [64, 128])

    cleanup.append((registry.ranged_hparams_sets, "my_test_range"))
    rhp = RangedHParams()
    registry.ranged_hparams("my_test_range")(rhp)
    specs = rhp.specs()
    assert specs["learning_rate"] == {"type": "float", "min": 0.01, "max": 1.0, "scale": "LOG_SCALE"}
    assert specs["hidden_size"]["values"] == [64, 128]
    assert "my_test_range" in registry.list_ranged_hparams()


def test_help_string_groups_each_registry():
    text = registry.help_string()
    assert "Problems (" in text and "Models (" in text and "Hparams sets (" in text
    assert ("image: image_bottlenecks, image_cifar10, image_cifar10_plain, image_cifar10_plain_gen, "
            "image_cifar10_plain_gen_conditional, image_fashion_mnist, image_mnist, image_mnist_gen") in text
    assert "Problem families: mixture:<a>+<b>[+...] (problems trained together" in text
    assert "; tfds:<name>[/<config>][:<version>] (any TFDS dataset)." in text
    assert re.search(r"^    basic: (\S+, )*basic_params1(,|$)", text, re.M)


def test_every_catalogue_model_names_a_registered_default_set():
    catalogue = [n for n in registry.list_models() if registry.model(n).__module__.startswith("t2x.models.")]
    assert len(catalogue) >= 7
    defaults = {name: registry.default_hparams_set(name) for name in catalogue}
    assert defaults["shake_shake"] == "shake_shake_quick" and defaults["transformer"] == "transformer_base"
    assert all(name in registry.list_hparams() for name in defaults.values())
    assert "shake_shake (default set shake_shake_quick)" in registry.help_string()


def test_default_set_from_the_decorator_and_a_model_without_one(cleanup):
    @registry.register_model(default_hparams_set="basic_params1")
    class WithDefault:
        pass

    @registry.register_model("without_default_model")
    class WithoutDefault:
        pass

    cleanup.extend([(registry.models, "with_default"), (registry.models, "without_default_model")])
    assert registry.default_hparams_set("with_default") == "basic_params1"
    with pytest.raises(registry.RegistryError, match="model 'without_default_model' names no default "
                                                     "hparams set; pass --hparams_set"):
        registry.default_hparams_set("without_default_model")
