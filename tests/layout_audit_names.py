"""How the layout audit names a widget in a problem: class, objectName, text, and the app's
class it sits in, so a developer can find where it is made."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget


def describe(widget: QWidget) -> str:
    """`Class#objectName 'text'`, enough to find the widget in the code."""
    name = type(widget).__name__
    if widget.objectName() and not widget.objectName().startswith("qt_"):
        name += f"#{widget.objectName()}"
    text = ""
    for getter in ("text", "title", "currentText", "windowTitle"):
        value = getattr(widget, getter, None)
        if callable(value):
            try:
                text = value()
            except TypeError:
                continue
            if isinstance(text, str) and text:
                break
    text = " ".join(str(text).split())
    if len(text) > 60:
        text = text[:57] + "…"
    described = f"{name} '{text}'" if text else name
    owner = _owner(widget)
    return f"{described} (in {owner})" if owner else described


def _owner(widget: QWidget) -> str:
    """The nearest ancestor of the app's own classes (a page, a panel), for a widget that has
    no objectName: where in the code it is made."""
    if widget.objectName() and not widget.objectName().startswith("qt_"):
        return ""
    parent = widget.parentWidget()
    while parent is not None:
        if not type(parent).__module__.startswith(("PySide6", "pyqtgraph", "shiboken")):
            return type(parent).__name__
        parent = parent.parentWidget()
    return ""
