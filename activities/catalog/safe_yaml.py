"""Safe YAML loading for specs and catalogs: no tags, no alias bombs, bounded size.

Lives with the catalog (the lowest layer that reads YAML); the spec compiler and registry in
``workflows`` import it from here, never the other way round.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MAX_SPEC_BYTES = 256 * 1024


class SpecFileError(ValueError):
    """A YAML file could not be read; the message names the file and the problem."""


class _NoTagLoader(yaml.SafeLoader):
    """SafeLoader that also refuses explicit tags (`!!python/...`, `!custom`, even `!!str`):
    a spec is plain data, and a tag is almost always a mistake or an attack."""


def _refuse_tag(loader: _NoTagLoader, suffix: str, node: yaml.Node) -> Any:
    raise yaml.constructor.ConstructorError(
        None, None, f"tags are not allowed in specs (found {node.tag!r})", node.start_mark
    )


_NoTagLoader.add_multi_constructor("!", _refuse_tag)
_NoTagLoader.add_multi_constructor("tag:", _refuse_tag)


def _compose_checked(loader: _NoTagLoader) -> Any:
    node = loader.get_single_node()
    if node is None:
        return None
    _check_explicit_tags(node)
    return loader.construct_document(node)


def _check_explicit_tags(node: yaml.Node, _seen: set[int] | None = None) -> None:
    # Implicit resolution sets standard tags too, so explicit ones are told apart by the
    # source text: an explicit tag leaves `!` at the node's start mark.
    seen = _seen if _seen is not None else set()
    if id(node) in seen:
        raise yaml.constructor.ConstructorError(
            None, None, "aliases (*name) are not allowed in specs", node.start_mark
        )
    seen.add(id(node))
    buf = node.start_mark.buffer
    if (
        buf is not None
        and node.start_mark.pointer < len(buf)
        and buf[node.start_mark.pointer] == "!"
    ):
        raise yaml.constructor.ConstructorError(
            None, None, f"tags are not allowed in specs (found {node.tag!r})", node.start_mark
        )
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            _check_explicit_tags(k, seen)
            _check_explicit_tags(v, seen)
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            _check_explicit_tags(v, seen)


def load_yaml_text(text: str, source: str) -> Any:
    if len(text.encode()) > MAX_SPEC_BYTES:
        raise SpecFileError(f"{source}: file is larger than {MAX_SPEC_BYTES // 1024} KiB")
    loader = _NoTagLoader(text)
    try:
        return _compose_checked(loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise SpecFileError(f"{source}: {where}{e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise SpecFileError(f"{source}: {e}") from None
    finally:
        loader.dispose()


def load_yaml_file(path: Path) -> Any:
    try:
        size = path.stat().st_size
    except OSError as e:
        raise SpecFileError(f"{path}: cannot read: {e.strerror}") from None
    if size > MAX_SPEC_BYTES:
        raise SpecFileError(f"{path}: file is larger than {MAX_SPEC_BYTES // 1024} KiB")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpecFileError(f"{path}: not UTF-8 text") from None
    return load_yaml_text(text, str(path))
