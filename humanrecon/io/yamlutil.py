"""YAML loading shared by every reader of YAML files (session.yaml, calibration files)."""

from __future__ import annotations

from typing import Any

import yaml


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, except that a duplicate mapping key is an error naming both lines.

    (PyYAML silently keeps the last of two equal keys, which hides typos in hand-edited files.)
    Subclasses may set ``key_word`` (e.g. ``"field"``) for the error message.
    """

    key_word = "key"

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate {self.key_word} {key!r} (first at line {seen[key]})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)
