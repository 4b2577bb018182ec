"""The head registry: decorator, lookup, clear errors."""

import pytest

import kerasft
from kerasft import registry


def test_builtin_heads_resolve_through_entry_points():
    assert "sentiment" in kerasft.available_heads()
    cls = kerasft.get_head("sentiment")
    assert issubclass(cls, kerasft.Head)


def test_unknown_head_lists_registered_ones_and_how_to_register():
    with pytest.raises(ValueError) as info:
        kerasft.get_head("no_such_head")
    message = str(info.value)
    assert "Unknown head 'no_such_head'" in message
    assert "sentiment" in message
    assert "@kerasft.register_head" in message and "kerasft.heads" in message


def test_registering_another_class_under_a_taken_name_raises():
    @kerasft.register_head("registry_test_head")
    class First(kerasft.ClassificationHead):
        pass

    # Same class again (a re-import) is fine.
    kerasft.register_head("registry_test_head")(First)

    class Second(kerasft.ClassificationHead):
        pass

    with pytest.raises(ValueError, match="already registered as 'registry_test_head'"):
        kerasft.register_head("registry_test_head")(Second)
    registry._HEADS.pop("registry_test_head")


def test_bad_head_name_is_rejected():
    with pytest.raises(ValueError, match="identifiers"):
        kerasft.register_head("not a name")
