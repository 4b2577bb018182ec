"""The head registry: the decorator, the in-tree `heads/` package, and entry points.

A head is one module with one decorator:

```python
@kerasft.register_head("sentiment")
class SentimentHead(kerasft.ClassificationHead):
    ...
```

A new file in the in-tree `heads` package is found as it is: no entry point,
no reinstall (its modules are a few lines each, imported when a head is
looked up). Installed packages add heads without touching kerasft by
declaring an entry point in the group `kerasft.heads` (`name =
package.module` or `name = package.module:Class`); entry points are imported
only when a head is looked up, so unused plugins cost nothing.
"""

from __future__ import annotations

import importlib
import pkgutil
from importlib import metadata

import keras

ENTRY_POINT_GROUP = "kerasft.heads"
IN_TREE_PACKAGE = "heads"
_HEADS: dict[str, type] = {}


def register_head(name: str):
    """Class decorator registering a head class under `name`.

    Registering the same class twice is a no-op (modules may be re-imported);
    registering a different class under a taken name raises. The class is also
    made Keras-serializable, so models using it round-trip through `.keras`.

    Args:
        name: the name used by `--head=NAME` and `get_head(NAME)`.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(
            "Head names must be identifiers (letters, digits, underscores). "
            f"Received: name={name!r}."
        )

    def decorator(cls):
        existing = _HEADS.get(name)
        if existing is not None and _qualname(existing) != _qualname(cls):
            raise ValueError(
                f"A different head is already registered as {name!r}: "
                f"{_qualname(existing)}. Received: {_qualname(cls)}. Pick "
                "another name."
            )
        cls = keras.saving.register_keras_serializable(
            package="kerasft_heads", name=name
        )(cls)
        cls.registered_name_ = name
        _HEADS[name] = cls
        return cls

    return decorator


def _qualname(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _load_entry_point(ep: metadata.EntryPoint) -> None:
    try:
        # `module` or `module:attr`; importing runs the decorator.
        module_name, _, attr = ep.value.partition(":")
        module = importlib.import_module(module_name.strip())
        if attr:
            cls = getattr(module, attr.strip())
            if ep.name not in _HEADS:
                register_head(ep.name)(cls)
    except ImportError as e:
        raise ImportError(
            f"Could not import head {ep.name!r} from entry point "
            f"{ep.value!r} (group {ENTRY_POINT_GROUP!r}): {e}"
        ) from e


def in_tree_head_modules() -> list[str]:
    """The modules of the in-tree `heads` package (each registers its heads)."""
    try:
        package = importlib.import_module(IN_TREE_PACKAGE)
    except ImportError:  # kerasft installed without its `heads` package
        return []
    return sorted(
        f"{IN_TREE_PACKAGE}.{m.name}"
        for m in pkgutil.iter_modules(package.__path__)
        if not m.name.startswith("_")
    )


def _load_in_tree_heads() -> None:
    for module in in_tree_head_modules():
        importlib.import_module(module)


def available_heads() -> list[str]:
    """Names of every registered, in-tree or installed head."""
    _load_in_tree_heads()
    return sorted(set(_HEADS) | set(_entry_points()))


def load_all_heads() -> None:
    """Import every in-tree and installed head (needed before loading a saved model)."""
    _load_in_tree_heads()
    for name, ep in _entry_points().items():
        if name not in _HEADS:
            _load_entry_point(ep)


def get_head(name: str) -> type:
    """The head class registered as `name`.

    Args:
        name: a head name such as `"sentiment"`.
    """
    if name not in _HEADS:
        _load_in_tree_heads()
    if name not in _HEADS:
        ep = _entry_points().get(name)
        if ep is not None:
            _load_entry_point(ep)
    if name not in _HEADS:
        raise ValueError(
            f"Unknown head {name!r}. Registered heads: "
            f"{', '.join(available_heads()) or '(none)'}. To add one, decorate "
            "a head class with `@kerasft.register_head(NAME)` in a new file of "
            f"the in-tree `{IN_TREE_PACKAGE}/` package or a module you import, "
            "or declare an entry point in the group "
            f"{ENTRY_POINT_GROUP!r} of an installed package."
        )
    return _HEADS[name]
