"""The board never dies under a pharmacist: an internal error in one handler or one
dialog's answer is contained to it (a sentence on the notice line, the traceback in the
crash log) instead of ending the app.

Textual ends a widget's message loop on the first exception a handler raises and then
stops the app (``_handle_exception``). :class:`Contained` catches it one level earlier, in
the widget's own dispatch, so the loop goes on; :meth:`Contained.ask` does the same for a
dialog's answer. Actions and workers are contained by the app (``BoardApp``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from textual import events
from textual.message import Message
from textual.message_pump import MessagePump
from textual.screen import Screen

R = TypeVar("R")

#: messages whose failure leaves a widget half built: those still end the app
_FATAL = (events.Compose, events.Mount)


def _contain(pump: MessagePump, error: BaseException, doing: str) -> bool:
    """Hand ``error`` to the app's ``contain``; False when this app cannot contain."""
    contain: Callable[[BaseException, str], None] | None = getattr(pump.app, "contain", None)
    if contain is None or not pump.app.is_running:
        return False
    contain(error, doing)
    return True


class Contained(MessagePump):
    """Mixed into the board's screens and view (before the Textual base class)."""

    async def _dispatch_message(self, message: Message) -> None:
        try:
            await super()._dispatch_message(message)
        except Exception as error:
            if isinstance(message, _FATAL) or not _contain(
                self, error, f"handling {type(message).__name__}"
            ):
                raise

    def ask(self, screen: Screen[R], answer: Callable[[R | None], Any]) -> None:
        """Push the dialog ``screen``; its answer runs contained."""

        def contained(result: R | None) -> None:
            try:
                answer(result)
            except Exception as error:
                if not _contain(self, error, f"answering {type(screen).__name__}"):
                    raise

        self.app.push_screen(screen, contained)
