import json

import pytest

from t2x.hparam import HParams, HParamsError, create_hparams


def make():
    return HParams(learning_rate=0.1, num_layers=2, layers=[64, 64], use_bias=True,
                   optimizer="adam", decay=None, rates=[0.5], modality={})


def test_parse_all_types():
    hp = make().parse("learning_rate=1,num_layers=6,layers=[1,2,3],use_bias=false,optimizer=sgd,"
                      "rates=[1,2.5]")
    assert hp.learning_rate == 1.0 and isinstance(hp.learning_rate, float)
    assert hp.num_layers == 6 and isinstance(hp.num_layers, int)
    assert hp.layers == [1, 2, 3]
    assert hp.use_bias is False
    assert hp.optimizer == "sgd"
    assert hp.rates == [1.0, 2.5] and all(isinstance(r, float) for r in hp.rates)


def test_parse_examples_from_the_issue():
    hp = HParams(a=0, b=[0], c=False, d="sgd").parse("a=1,b=[1,2],c=true,d=adam")
    assert hp.values() == {"a": 1, "b": [1, 2], "c": True, "d": "adam"}


def test_unknown_key_names_nearest_valid_keys():
    with pytest.raises(HParamsError, match=r"unknown hparam 'learnin_rate'; nearest valid keys: learning_rate"):
        make().parse("learnin_rate=3")
    with pytest.raises(HParamsError, match="unknown hparam 'num_layer'"):
        make().num_layer = 3


def test_type_mismatch_names_expected_type():
    with pytest.raises(HParamsError, match="hparam 'num_layers' expects int, got '2.5'"):
        make().parse("num_layers=2.5")
    with pytest.raises(HParamsError, match=r"hparam 'use_bias' expects bool \(true/false\), got 'maybe'"):
        make().parse("use_bias=maybe")
    with pytest.raises(HParamsError, match="expects a list"):
        make().parse("layers=5")
    with pytest.raises(HParamsError, match="expects int, got float 1.5"):
        make().set_hparam("num_layers", 1.5)
    with pytest.raises(HParamsError, match="expects float, got str"):
        make().learning_rate = "fast"


def test_none_default_can_be_set_and_infers_type():
    hp = make().parse("decay=0.5")
    assert hp.decay == 0.5
    hp = make().parse("decay=[1,2]")
    assert hp.decay == [1, 2]
    hp = make().parse("decay=exp")
    assert hp.decay == "exp"
    hp = make()
    hp.decay = 3
    assert hp.decay == 3


def test_dict_cannot_come_from_a_string_but_can_be_set():
    with pytest.raises(HParamsError, match="is a dict"):
        make().parse("modality=x")
    hp = make()
    hp.modality = {"targets": "real"}
    assert hp.modality == {"targets": "real"}


def test_malformed_overrides():
    with pytest.raises(HParamsError, match="expected name=value"):
        make().parse("learning_rate")
    with pytest.raises(HParamsError, match="set twice"):
        make().parse("num_layers=1,num_layers=2")
    with pytest.raises(HParamsError, match="unbalanced"):
        make().parse("layers=[1,2")
    assert make().parse("").values() == make().values()


def test_json_round_trip_and_values():
    hp = make().parse("decay=0.25,layers=[3]")
    text = hp.to_json()
    assert json.loads(text)["layers"] == [3]
    back = HParams.from_json(text)
    assert back == hp and back.values() == hp.values()
    other = make().parse_json('{"num_layers": 9}')
    assert other.num_layers == 9
    values = hp.values()
    values["layers"].append(99)  # a copy: the HParams is unchanged
    assert hp.layers == [3]


def test_diff_is_readable():
    a = make()
    b = make().parse("learning_rate=0.2,optimizer=sgd")
    b.add_hparam("new_one", 1)
    assert a.diff(b) == ["learning_rate: 0.1 -> 0.2", "new_one: added (= 1)", "optimizer: 'adam' -> 'sgd'"]
    assert b.diff(a)[1] == "new_one: removed (was 1)"
    assert a.diff(make()) == []


def test_add_and_delete():
    hp = HParams()
    hp.add_hparam("x", 1)
    with pytest.raises(HParamsError, match="already exists"):
        hp.add_hparam("x", 2)
    hp.del_hparam("x")
    assert "x" not in hp and hp.get("x", 5) == 5
    with pytest.raises(HParamsError, match="reserved"):
        hp.add_hparam("values", 1)


def test_create_hparams_from_registered_set():
    hp = create_hparams("basic_params1", "learning_rate=0.5,hidden_size=32")
    assert hp.learning_rate == 0.5 and hp.hidden_size == 32 and hp.optimizer == "adam"
    with pytest.raises(HParamsError, match="in --hparams for set 'basic_params1'"):
        create_hparams("basic_params1", "hiden_size=3")
