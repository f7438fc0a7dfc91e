"""A headless client of Streamlit's own websocket protocol, for load tests of the real app.

It speaks to ``ws://127.0.0.1:PORT/_stcore/stream`` the way the browser's frontend does:

- **Connect** with the ``streamlit`` subprotocol and a same-origin ``Origin`` header. The browser
  also passes its XSRF cookie and a previous session id as further subprotocol entries; the server
  reads the XSRF token only to trust an ``st.login`` cookie, which demo mode does not use, so this
  client sends neither and every connection is a new session.
- **Run the script** by sending a ``BackMsg`` whose ``rerun_script`` is a ``ClientState``: the
  address's query string, the page (by ``page_name``, the address's path, until the server has
  sent its ``navigation`` list, then by ``page_script_hash``, as the frontend does), the widget
  states, the browser's context and the hashes of the cacheable messages it already holds.
- **Read** ``ForwardMsg``s until ``script_finished``: ``new_session`` starts a run, ``delta``s fill
  the screen (elements and blocks at their ``delta_path``), ``page_info_changed`` updates the
  query string, and ``script_finished`` with ``FINISHED_EARLY_FOR_RERUN`` (``st.rerun``) means
  another run follows; any other status ends the interaction. A ``ref_hash`` message stands for a
  cacheable message this client sent back the hash of; it is answered from the client's cache.
- **Widgets** are collected from the deltas (id, label, type, form, the expanders and tabs around
  them). Setting one stores a ``WidgetState`` encoded as the frontend encodes it (selections by
  their label, dates as ISO strings, buttons as one-shot triggers); a widget outside a form reruns
  at once, a form's widgets wait for its submit button, as in the browser. The client sends the
  values its user set; for every widget it has not touched the server keeps the value of the
  previous run (a browser would send those same values back).

What it does not do: run custom components' JavaScript (a ``st_folium`` map never reports a
pan or a click, so it never triggers the rerun a browser's map may), fetch static files, images or
media, or send heartbeats. Latency here is the server's: from sending the ``BackMsg`` until the
final ``script_finished``.

Example::

    async with StreamlitSession("http://127.0.0.1:8501") as session:
        page = await session.open("hotspots")
        page = await session.change("Look back", "24 months")
        assert not page.exceptions
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from datetime import time as clock_time
from types import TracebackType
from urllib.parse import urlsplit

from google.protobuf.message import Message
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Block_pb2 import Block
from streamlit.proto.ClientState_pb2 import ClientState, ContextInfo
from streamlit.proto.Delta_pb2 import Delta
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.NumberInput_pb2 import NumberInput
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

DEFAULT_RUN_TIMEOUT_S = 120.0
STREAM_PATH = "/_stcore/stream"
ALERT_KINDS = {
    Alert.ERROR: "error",
    Alert.WARNING: "warning",
    Alert.INFO: "info",
    Alert.SUCCESS: "success",
}
# Element types that are widgets: each has an ``id`` the browser reports values under
WIDGET_TYPES = frozenset(
    {
        "button",
        "button_group",
        "checkbox",
        "color_picker",
        "component_instance",
        "date_input",
        "date_time_input",
        "download_button",
        "file_uploader",
        "multiselect",
        "number_input",
        "radio",
        "selectbox",
        "slider",
        "text_area",
        "text_input",
        "time_input",
    }
)
# Blocks a person sees a label on, so a widget can be found "in the expander labelled ..."
LABELLED_BLOCKS = {"expandable", "tab", "popover", "dialog"}
# A keyed widget's id ends with its key: "$$ID-<hash>-<key>" (streamlit/elements/lib/utils.py)
_KEYED_ID = re.compile(r"^\$\$ID-[0-9a-f]+-(?P<key>.+)$")


class StreamlitClientError(Exception):
    """Base class of this client's errors."""


class ConnectionLost(StreamlitClientError):
    """The websocket could not be opened, or closed while a run was awaited."""


class RunTimeout(StreamlitClientError):
    """No ``script_finished`` arrived in time; the session is no longer usable."""


class ProtocolError(StreamlitClientError):
    """The server sent something this client cannot interpret (such as an unknown ref_hash)."""


class WidgetNotFound(StreamlitClientError, LookupError):
    """No widget (or page link, or page) on the screen matches what was asked for."""


class UnsupportedValue(StreamlitClientError, ValueError):
    """A value the widget cannot take, or a widget type this client cannot set."""


@dataclass(frozen=True)
class Widget:
    """One widget as the last run drew it.

    ``kind`` is the element type (``selectbox``, ``multiselect``, ``checkbox`` for checkboxes
    and toggles, ``slider`` for sliders and select sliders, ``button_group`` for segmented
    controls and pills, ``button`` for buttons and form submit buttons). ``options`` are the
    labels the person sees. ``containers`` are the labels of the expanders, tabs, popovers and
    dialogs around it, outermost first; ``block_paths`` are those blocks' delta paths.
    """

    id: str
    kind: str
    label: str
    form_id: str
    options: tuple[str, ...]
    path: tuple[int, ...]
    containers: tuple[str, ...]
    block_paths: tuple[tuple[int, ...], ...]
    proto: Message = field(repr=False, compare=False)

    @property
    def key(self) -> str | None:
        """The ``key=`` the app gave the widget, or None for an unkeyed one."""
        match = _KEYED_ID.match(self.id)
        if match is None or match["key"] == "None":
            return None
        return match["key"]

    @property
    def is_form_submitter(self) -> bool:
        """True for a form's submit button."""
        return self.kind == "button" and bool(getattr(self.proto, "is_form_submitter", False))

    def shown_value(self) -> object:
        """The value the server drew the widget with (before anything this client set).

        Selections come back as their labels; None where this client cannot tell.
        """
        proto = self.proto
        if self.kind in ("selectbox", "radio"):
            if proto.set_value:  # type: ignore[attr-defined]
                return proto.raw_value or None  # type: ignore[attr-defined]
            if proto.HasField("default") and self.options:
                return self.options[proto.default]  # type: ignore[attr-defined]
            return None
        if self.kind == "multiselect":
            if proto.set_value:  # type: ignore[attr-defined]
                return list(proto.raw_values)  # type: ignore[attr-defined]
            return [self.options[i] for i in proto.default]  # type: ignore[attr-defined]
        if self.kind == "checkbox":
            return bool(proto.value if proto.set_value else proto.default)  # type: ignore[attr-defined]
        if self.kind in ("text_input", "text_area"):
            return proto.value if proto.set_value else proto.default  # type: ignore[attr-defined]
        return None

    def inside(self, path: Sequence[int]) -> bool:
        """True when the widget is drawn inside the block at ``path``."""
        return self.path[: len(path)] == tuple(path)


@dataclass(frozen=True)
class PageLink:
    """An ``st.page_link``: its label, and the page and query string it opens."""

    label: str
    page_script_hash: str
    url_path: str
    query_string: str
    path: tuple[int, ...]


@dataclass(frozen=True)
class AppPage:
    """One page of the app's navigation."""

    title: str
    url_path: str
    page_script_hash: str


@dataclass
class Screen:
    """What one interaction left on the screen, and how long the server took to draw it.

    ``latency_s`` runs from sending the ``BackMsg`` until the final ``script_finished`` (after
    any ``st.rerun``). ``exceptions`` holds "Type: message" of every exception element,
    ``alerts`` (kind, body, delta path) every ``st.error``/``warning``/``info``/``success``.
    """

    page_title: str = ""
    page_script_hash: str = ""
    query_string: str = ""
    latency_s: float = 0.0
    runs: int = 0
    finished_status: str = ""
    page_not_found: bool = False
    elements: dict[tuple[int, ...], Element] = field(default_factory=dict, repr=False)
    blocks: dict[tuple[int, ...], Block] = field(default_factory=dict, repr=False)

    # --- building it from deltas ----------------------------------------------------------------

    def _clear(self) -> None:
        self.elements.clear()
        self.blocks.clear()
        self.page_not_found = False

    def _drop_children(self, path: tuple[int, ...]) -> None:
        depth = len(path)
        for store in (self.elements, self.blocks):
            for stale in [p for p in store if len(p) > depth and p[:depth] == path]:
                del store[stale]

    def _apply(self, path: tuple[int, ...], delta: Delta) -> None:
        kind = delta.WhichOneof("type")
        if kind == "new_element":
            if path in self.blocks:  # an element replacing a container and all it held
                del self.blocks[path]
                self._drop_children(path)
            self.elements[path] = delta.new_element
        elif kind == "add_block":
            if path in self.blocks or path in self.elements:
                self.elements.pop(path, None)
                self._drop_children(path)
            self.blocks[path] = delta.add_block
        # new_transient (spinners, skeletons) draws nothing a person acts on

    # --- reading it ---------------------------------------------------------------------------

    def _ordered(self) -> list[tuple[tuple[int, ...], Element]]:
        return sorted(self.elements.items())

    def _containers(self, path: tuple[int, ...]) -> tuple[tuple[str, ...], tuple[tuple[int, ...]]]:
        labels, paths = [], []
        for depth in range(1, len(path)):
            block = self.blocks.get(path[:depth])
            if block is None:
                continue
            kind = block.WhichOneof("type")
            if kind in LABELLED_BLOCKS:
                labels.append(
                    getattr(block, kind).label if kind != "dialog" else block.dialog.title
                )
                paths.append(path[:depth])
        return tuple(labels), tuple(paths)

    @property
    def exceptions(self) -> list[str]:
        """Every exception element on the screen, as "Type: message"."""
        return [
            f"{element.exception.type}: {element.exception.message}"
            for _path, element in self._ordered()
            if element.WhichOneof("type") == "exception"
        ]

    @property
    def alerts(self) -> list[tuple[str, str, tuple[int, ...]]]:
        """Every alert on the screen: (``error``/``warning``/``info``/``success``, body, path)."""
        return [
            (ALERT_KINDS.get(element.alert.format, "alert"), element.alert.body, path)
            for path, element in self._ordered()
            if element.WhichOneof("type") == "alert"
        ]

    def alert_bodies(self, kind: str, under: Sequence[int] | None = None) -> list[str]:
        """The bodies of the alerts of ``kind``, optionally only those inside block ``under``."""
        prefix = tuple(under or ())
        return [
            body
            for found, body, path in self.alerts
            if found == kind and path[: len(prefix)] == prefix
        ]

    @property
    def widgets(self) -> list[Widget]:
        """Every widget on the screen, in screen order."""
        found = []
        for path, element in self._ordered():
            kind = element.WhichOneof("type")
            if kind not in WIDGET_TYPES:
                continue
            proto = getattr(element, kind)
            if kind == "button_group":
                options = tuple(option.content for option in proto.options)
            elif kind in ("selectbox", "radio", "multiselect", "slider"):
                options = tuple(proto.options)
            else:
                options = ()
            labels, block_paths = self._containers(path)
            found.append(
                Widget(
                    id=proto.id,
                    kind=kind,
                    label=getattr(proto, "label", "") or getattr(proto, "component_name", ""),
                    form_id=getattr(proto, "form_id", ""),
                    options=options,
                    path=path,
                    containers=labels,
                    block_paths=block_paths,
                    proto=proto,
                )
            )
        return found

    def find_widgets(
        self,
        label: str | None = None,
        *,
        kind: str | None = None,
        within: str | None = None,
        under: Sequence[int] | None = None,
        key: str | re.Pattern[str] | None = None,
    ) -> list[Widget]:
        """Widgets matching every criterion given.

        ``label`` matches the label exactly, ``within`` a substring of an enclosing expander's,
        tab's or popover's label, ``under`` a block's delta path, and ``key`` the widget's key
        exactly (a string) or by ``re.fullmatch`` (a compiled pattern).
        """
        prefix = tuple(under) if under is not None else None
        matches = []
        for widget in self.widgets:
            if label is not None and widget.label != label:
                continue
            if kind is not None and widget.kind != kind:
                continue
            if within is not None and not any(within in text for text in widget.containers):
                continue
            if prefix is not None and not widget.inside(prefix):
                continue
            if key is not None:
                if widget.key is None:
                    continue
                if isinstance(key, re.Pattern):
                    if not key.fullmatch(widget.key):
                        continue
                elif widget.key != key:
                    continue
            matches.append(widget)
        return matches

    def widget(
        self,
        label: str | None = None,
        *,
        kind: str | None = None,
        within: str | None = None,
        under: Sequence[int] | None = None,
        key: str | re.Pattern[str] | None = None,
    ) -> Widget:
        """The one widget matching (see ``find_widgets``); WidgetNotFound if none or several."""
        matches = self.find_widgets(label, kind=kind, within=within, under=under, key=key)
        if len(matches) != 1:
            wanted = {"label": label, "kind": kind, "within": within, "under": under, "key": key}
            asked = ", ".join(f"{name}={value!r}" for name, value in wanted.items() if value)
            shown = sorted({w.label for w in self.widgets if w.label})
            raise WidgetNotFound(
                f"{len(matches)} widgets match {asked} on {self.page_title or 'the page'}; "
                f"the labels shown are: {', '.join(shown) or 'none'}"
            )
        return matches[0]

    @property
    def page_links(self) -> list[PageLink]:
        """Every ``st.page_link`` on the screen, in screen order."""
        return [
            PageLink(
                label=element.page_link.label,
                page_script_hash=element.page_link.page_script_hash,
                url_path=element.page_link.page,
                query_string=element.page_link.query_string,
                path=path,
            )
            for path, element in self._ordered()
            if element.WhichOneof("type") == "page_link"
        ]

    def texts(self) -> list[str]:
        """The text of headings, markdown, captions, alerts and metrics, in screen order."""
        out = []
        for _path, element in self._ordered():
            kind = element.WhichOneof("type")
            if kind in ("heading", "markdown", "text", "alert"):
                out.append(getattr(element, kind).body)
            elif kind == "metric":
                out.append(f"{element.metric.label}: {element.metric.body}")
        return out

    def metric(self, label: str) -> str:
        """The shown value of the ``st.metric`` labelled ``label`` (WidgetNotFound if absent)."""
        for _path, element in self._ordered():
            if element.WhichOneof("type") == "metric" and element.metric.label == label:
                return element.metric.body
        raise WidgetNotFound(f"no metric labelled {label!r} on {self.page_title or 'the page'}")

    def block_path(self, widget: Widget, kind: str = "expandable") -> tuple[int, ...]:
        """The delta path of the innermost block of ``kind`` holding ``widget``."""
        for depth in range(len(widget.path) - 1, 0, -1):
            block = self.blocks.get(widget.path[:depth])
            if block is not None and block.WhichOneof("type") == kind:
                return widget.path[:depth]
        raise WidgetNotFound(f"the widget {widget.label!r} is not inside a {kind}")


def encode_widget_value(widget: Widget, value: object) -> WidgetState:
    """The ``WidgetState`` the frontend sends when a person gives ``widget`` the ``value``.

    Selections are given by their labels (a list for a multiselect or a range), dates as
    ``date``, times as ``time``. UnsupportedValue for a value the widget does not offer.
    """
    state = WidgetState(id=widget.id)
    kind = widget.kind

    def check_options(labels: Iterable[str]) -> list[str]:
        labels = [str(label) for label in labels]
        missing = [label for label in labels if label not in widget.options]
        if missing and not getattr(widget.proto, "accept_new_options", False):
            raise UnsupportedValue(
                f"{widget.label!r} offers no {', '.join(map(repr, missing))}; "
                f"it offers {', '.join(map(repr, widget.options))}"
            )
        return labels

    if kind in ("selectbox", "radio"):
        if value is not None:
            state.string_value = check_options([str(value)])[0]
    elif kind in ("multiselect", "button_group"):
        state.string_array_value.data[:] = check_options(_as_list(value))
    elif kind == "checkbox":
        if not isinstance(value, bool):
            raise UnsupportedValue(f"{widget.label!r} takes True or False, got {value!r}")
        state.bool_value = value
    elif kind == "slider":
        if widget.options:  # st.select_slider: the labels of the chosen option(s)
            state.string_array_value.data[:] = check_options(_as_list(value))
        else:
            state.double_array_value.data[:] = [float(v) for v in _as_list(value)]  # type: ignore[arg-type]
    elif kind in ("text_input", "text_area"):
        state.string_value = str(value)
    elif kind == "number_input":
        if widget.proto.data_type == NumberInput.INT:  # type: ignore[attr-defined]
            state.int_value = int(value)  # type: ignore[call-overload]
        else:
            state.double_value = float(value)  # type: ignore[arg-type]
    elif kind == "date_input":
        dates = _as_list(value)
        if not all(isinstance(d, date) for d in dates):
            raise UnsupportedValue(f"{widget.label!r} takes dates, got {value!r}")
        state.string_array_value.data[:] = [d.isoformat() for d in dates]  # type: ignore[union-attr]
    elif kind == "time_input":
        if not isinstance(value, clock_time):
            raise UnsupportedValue(f"{widget.label!r} takes a time, got {value!r}")
        state.string_value = value.strftime("%H:%M")
    elif kind in ("button", "download_button"):
        state.trigger_value = True
    else:
        raise UnsupportedValue(f"this client cannot set a {kind} ({widget.label!r})")
    return state


def decode_widget_state(state: WidgetState) -> object:
    """The plain value a ``WidgetState`` carries (labels for selections, lists for arrays)."""
    which = state.WhichOneof("value")
    if which is None:
        return None
    value = getattr(state, which)
    if which.endswith("_array_value"):
        return list(value.data)
    return value


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


class StreamlitSession:
    """One browser tab on a Streamlit app: a websocket session and the screen it shows.

    Parameters
    ----------
    base_url
        ``http://127.0.0.1:PORT`` (any path prefix is kept: ``server.baseUrlPath``).
    run_timeout_s
        How long one interaction may take before RunTimeout; the session is then unusable.
    timezone, locale
        What the browser would report in ``context_info``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        run_timeout_s: float = DEFAULT_RUN_TIMEOUT_S,
        timezone: str = "Europe/London",
        locale: str = "en-GB",
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.netloc:
            raise ValueError(f"base_url must be http://HOST:PORT, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._prefix = parts.path.rstrip("/")
        self.stream_url = f"ws://{parts.netloc}{self._prefix}{STREAM_PATH}"
        self.run_timeout_s = run_timeout_s
        self._context = ContextInfo(timezone=timezone, locale=locale, is_embedded=False)
        self._ws: ClientConnection | None = None
        self._broken = False
        self.screen = Screen()
        self.pages: dict[str, AppPage] = {}  # by title, url path and hash
        self._page_script_hash = ""
        self._query_string = ""
        self._widget_states: dict[str, WidgetState] = {}  # values this user set, by widget id
        self._pending_forms: dict[str, dict[str, WidgetState]] = {}  # form id -> staged values
        self._triggers: dict[str, WidgetState] = {}  # one-shot button presses
        self._cache: dict[str, tuple[ForwardMsg, int]] = {}  # hash -> (message, run last used)
        self._max_cached_message_age = 2
        self._finished_runs = 0

    # --- connection -------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the websocket (a new server session). ConnectionLost if it cannot."""
        try:
            self._ws = await connect(
                self.stream_url,
                subprotocols=["streamlit"],  # type: ignore[list-item]
                origin=self.base_url,  # type: ignore[arg-type]  # same-origin, as a browser tab
                max_size=None,  # a map component's message is hundreds of kilobytes
                open_timeout=self.run_timeout_s,
            )
        except (OSError, InvalidHandshake, TimeoutError) as error:
            raise ConnectionLost(f"cannot open {self.stream_url}: {error}") from error
        self._broken = False

    async def close(self) -> None:
        """Close the websocket; the server ends the session."""
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
            self._ws = None

    async def __aenter__(self) -> StreamlitSession:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def usable(self) -> bool:
        """False after a timeout or a lost connection: reconnect (a new session) to go on."""
        return self._ws is not None and not self._broken

    # --- what a person does -----------------------------------------------------------------------

    async def open(self, page: str = "", query_string: str = "") -> Screen:
        """Open ``page`` (its title, url path, or "" for the default page) with ``query_string``.

        Before the server has listed its pages this is typing the address (the page goes by its
        url path); afterwards it is clicking the page in the navigation.
        """
        known = self.pages.get(page)
        if known is None and self.pages and page:
            raise WidgetNotFound(
                f"no page {page!r} in the navigation; it has "
                f"{', '.join(sorted({p.title for p in self.pages.values()}))}"
            )
        self._query_string = query_string.lstrip("?")
        if known is not None:
            return await self._run(page_script_hash=known.page_script_hash)
        return await self._run(page_name=page)

    async def rerun(self) -> Screen:
        """Run the current page again with the current widget values (the "Rerun" menu item)."""
        return await self._run(page_script_hash=self._page_script_hash)

    def stage(self, widget: Widget, value: object) -> None:
        """Give ``widget`` ``value`` without rerunning (form widgets wait for their submit)."""
        state = encode_widget_value(widget, value)
        if widget.kind in ("button", "download_button"):
            self._triggers[widget.id] = state
        elif widget.form_id:
            self._pending_forms.setdefault(widget.form_id, {})[widget.id] = state
        else:
            self._widget_states[widget.id] = state

    def current_value(self, widget: Widget) -> object:
        """The widget's value as this tab shows it: what its user set, else what the server drew."""
        state = self._widget_states.get(widget.id) or self._pending_forms.get(
            widget.form_id, {}
        ).get(widget.id)
        if state is None:
            return widget.shown_value()
        return decode_widget_state(state)

    async def change(self, widget: Widget | str, value: object, **where: object) -> Screen:
        """Set a widget (a Widget, or a label plus ``find_widgets`` criteria) as a person would.

        Outside a form the page reruns, as the browser does on every change; inside a form the
        value waits for the form's submit button and the current screen is returned.
        """
        target = widget if isinstance(widget, Widget) else self.screen.widget(widget, **where)  # type: ignore[arg-type]
        self.stage(target, value)
        if target.form_id:
            return self.screen
        return await self.rerun()

    async def click(self, widget: Widget | str, **where: object) -> Screen:
        """Press a button (a Widget, or a label plus ``find_widgets`` criteria) and rerun.

        A form's submit button sends the values staged in its form with it.
        """
        target = (
            widget
            if isinstance(widget, Widget)
            else self.screen.widget(widget, kind="button", **where)  # type: ignore[arg-type]
        )
        if target.kind not in ("button", "download_button"):
            raise UnsupportedValue(f"{target.label!r} is a {target.kind}, not a button")
        if target.is_form_submitter:
            self._widget_states.update(self._pending_forms.pop(target.form_id, {}))
        self._triggers[target.id] = encode_widget_value(target, True)
        return await self.rerun()

    async def follow(self, link: PageLink | str) -> Screen:
        """Click an ``st.page_link`` (a PageLink, or the first with that label)."""
        if isinstance(link, str):
            matches = [found for found in self.screen.page_links if found.label == link]
            if not matches:
                raise WidgetNotFound(f"no page link labelled {link!r}")
            link = matches[0]
        self._query_string = link.query_string
        return await self._run(page_script_hash=link.page_script_hash)

    # --- the protocol -----------------------------------------------------------------------------

    def _client_state(self, page_script_hash: str, page_name: str) -> ClientState:
        state = ClientState(
            query_string=self._query_string,
            page_script_hash=page_script_hash,
            page_name=page_name,
        )
        url_path = page_name
        if page_script_hash and page_script_hash in self.pages:
            url_path = self.pages[page_script_hash].url_path
        query = f"?{self._query_string}" if self._query_string else ""
        state.context_info.CopyFrom(self._context)
        state.context_info.url = f"{self.base_url}/{url_path}{query}"
        state.widget_states.widgets.extend(self._widget_states.values())
        state.widget_states.widgets.extend(self._triggers.values())
        state.cached_message_hashes.extend(self._cache)
        return state

    async def _run(self, *, page_script_hash: str = "", page_name: str = "") -> Screen:
        if not self.usable:
            raise ConnectionLost("the session is closed or broken; connect again")
        assert self._ws is not None
        back = BackMsg()
        back.rerun_script.CopyFrom(self._client_state(page_script_hash, page_name))
        self._triggers.clear()  # a press is sent once, as the browser resets its triggers
        screen = Screen(query_string=self._query_string)
        started = time.perf_counter()
        try:
            await self._ws.send(back.SerializeToString())
            async with asyncio.timeout(self.run_timeout_s):
                await self._read_until_finished(screen)
        except TimeoutError as error:
            self._broken = True
            raise RunTimeout(
                f"no script_finished within {self.run_timeout_s:.0f} s "
                f"(page {screen.page_title or page_name or page_script_hash!r})"
            ) from error
        except ConnectionClosed as error:
            self._broken = True
            raise ConnectionLost(f"the server closed the websocket: {error}") from error
        screen.latency_s = time.perf_counter() - started
        screen.query_string = self._query_string
        self.screen = screen
        shown = {w.id for w in screen.widgets}
        # the browser forgets the values of widgets that are no longer drawn
        self._widget_states = {i: s for i, s in self._widget_states.items() if i in shown}
        for form_id in list(self._pending_forms):
            kept = {i: s for i, s in self._pending_forms[form_id].items() if i in shown}
            self._pending_forms[form_id] = kept
        return screen

    async def _read_until_finished(self, screen: Screen) -> None:
        assert self._ws is not None
        started_run = False
        while True:
            data = await self._ws.recv(decode=False)
            msg = self._resolve(ForwardMsg.FromString(data))
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                started_run = True
                screen._clear()
                screen.runs += 1
                new_session = msg.new_session
                self._page_script_hash = new_session.page_script_hash
                screen.page_script_hash = new_session.page_script_hash
                screen.page_title = self._page_title(new_session.page_script_hash)
                if new_session.HasField("config") and new_session.config.max_cached_message_age:
                    self._max_cached_message_age = new_session.config.max_cached_message_age
            elif kind == "navigation":
                self._learn_pages(msg.navigation.app_pages)
                if msg.navigation.page_script_hash:  # the page st.navigation chose to run
                    self._page_script_hash = msg.navigation.page_script_hash
                    screen.page_script_hash = self._page_script_hash
                screen.page_title = self._page_title(self._page_script_hash)
            elif kind == "delta" and started_run:
                screen._apply(tuple(msg.metadata.delta_path), msg.delta)
            elif kind == "page_info_changed":
                self._query_string = msg.page_info_changed.query_string
            elif kind == "page_not_found":
                screen.page_not_found = True
            elif kind == "session_event" and msg.session_event.HasField(
                "script_compilation_exception"
            ):
                failure = msg.session_event.script_compilation_exception
                element = Element()
                element.exception.type = failure.type
                element.exception.message = failure.message
                screen.elements[(99, len(screen.elements))] = element
            elif kind == "script_finished" and started_run:
                status = ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)
                if msg.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    continue  # st.rerun: the next run's new_session follows
                screen.finished_status = status
                if msg.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    element = Element()
                    element.exception.type = "CompileError"
                    element.exception.message = "the script did not compile"
                    screen.elements[(99, len(screen.elements))] = element
                self._age_cache()
                return

    def _resolve(self, msg: ForwardMsg) -> ForwardMsg:
        """Swap a ``ref_hash`` message for the cached one; remember cacheable messages."""
        if msg.WhichOneof("type") == "ref_hash":
            cached = self._cache.get(msg.ref_hash)
            if cached is None:
                raise ProtocolError(f"the server referred to message {msg.ref_hash} not cached")
            full = ForwardMsg()
            full.CopyFrom(cached[0])
            full.metadata.CopyFrom(msg.metadata)
            self._cache[msg.ref_hash] = (cached[0], self._finished_runs)
            return full
        if msg.metadata.cacheable and msg.hash:
            self._cache[msg.hash] = (msg, self._finished_runs)
        return msg

    def _age_cache(self) -> None:
        """Forget cached messages not used for ``maxCachedMessageAge`` runs, as the frontend."""
        self._finished_runs += 1
        oldest = self._finished_runs - self._max_cached_message_age
        self._cache = {h: entry for h, entry in self._cache.items() if entry[1] >= oldest}

    def _learn_pages(self, app_pages: Iterable[Message]) -> None:
        pages: dict[str, AppPage] = {}
        for proto in app_pages:
            page = AppPage(
                title=proto.page_name,  # type: ignore[attr-defined]
                url_path=proto.url_pathname,  # type: ignore[attr-defined]
                page_script_hash=proto.page_script_hash,  # type: ignore[attr-defined]
            )
            for name in (page.title, page.url_path, page.page_script_hash):
                pages.setdefault(name, page)
        self.pages = pages

    def _page_title(self, page_script_hash: str) -> str:
        page = self.pages.get(page_script_hash)
        return page.title if page is not None else ""
