"""Node ids as text: ``dataset:<namespace>:<name>`` and ``job:<namespace>:<name>``.

The type runs up to the first ``:`` and the name starts after the last one; what lies
between is the namespace (namespaces such as ``postgres://db:5432`` contain colons).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NODE_TYPES = ("dataset", "job")


class NodeIdError(ValueError):
    """A node id that cannot be parsed; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class NodeRef:
    type: str
    namespace: str
    name: str

    @classmethod
    def parse(cls, text: str) -> NodeRef:
        head, sep, rest = text.partition(":")
        if not sep or head not in NODE_TYPES:
            raise NodeIdError(
                f"node id {text!r} must look like 'dataset:<namespace>:<name>' or "
                "'job:<namespace>:<name>'"
            )
        namespace, sep, name = rest.rpartition(":")
        if not sep or not namespace or not name:
            raise NodeIdError(f"node id {text!r} needs both a namespace and a name")
        return cls(head, namespace, name)

    @classmethod
    def dataset(cls, namespace: str, name: str) -> NodeRef:
        return cls("dataset", namespace, name)

    @classmethod
    def job(cls, namespace: str, name: str) -> NodeRef:
        return cls("job", namespace, name)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.type, self.namespace, self.name)

    def __str__(self) -> str:
        return f"{self.type}:{self.namespace}:{self.name}"

    def as_json(self) -> dict[str, Any]:
        return {"id": str(self), "type": self.type, "namespace": self.namespace, "name": self.name}
