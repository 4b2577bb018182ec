"""`kerasft.testing.assert_outputs_equal`: what two serving runs must share."""

import numpy as np
import pytest

from kerasft.testing import assert_outputs_equal


def test_floats_within_atol_and_labels_equal_pass():
    assert_outputs_equal({"p": [0.5, 0.25], "label": ["a", "b"]},
                         {"p": np.array([0.5 + 1e-6, 0.25]), "label": np.array(["a", "b"])}, "ok")


def test_a_float_outside_atol_fails():
    with pytest.raises(AssertionError, match="output `p` differs"):
        assert_outputs_equal({"p": [0.5]}, {"p": [0.6]}, "ctx", atol=0.05)


def test_label_flips_count_against_the_allowed_share():
    tags = [["O"] * 10, ["B-PER"] * 10]
    flipped = [["O"] * 9 + ["I-LOC"], ["B-PER"] * 10]
    with pytest.raises(AssertionError, match="differs in 1 of 20 elements"):
        assert_outputs_equal({"tags": tags}, {"tags": flipped}, "ctx")
    assert_outputs_equal({"tags": tags}, {"tags": flipped}, "ctx", max_discrete_mismatch=0.05)
    twice = [["O"] * 8 + ["I-LOC"] * 2, ["B-PER"] * 10]
    with pytest.raises(AssertionError, match="differs in 2 of 20"):
        assert_outputs_equal({"tags": tags}, {"tags": twice}, "ctx", max_discrete_mismatch=0.05)


def test_names_and_shapes_must_match():
    with pytest.raises(AssertionError, match="output names differ"):
        assert_outputs_equal({"a": [1]}, {"b": [1]}, "ctx")
    with pytest.raises(AssertionError, match="has shape"):
        assert_outputs_equal({"a": [1, 2]}, {"a": [1]}, "ctx", max_discrete_mismatch=1.0)
