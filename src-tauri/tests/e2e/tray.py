"""The app's tray as a desktop shell sees it, over D-Bus: the StatusNotifierItem's properties
(IconName: the PNG the app last drew) and its com.canonical.dbusmenu menu; clicks go through
dbusmenu's Event, exactly as a panel sends them."""
import asyncio
import os

from dbus_next import BusType, Message, MessageType, Variant
from dbus_next.aio import MessageBus

MENU = "com.canonical.dbusmenu"


async def _call(bus, dest, path, iface, member, sig="", body=()):
    reply = await bus.call(Message(destination=dest, path=path, interface=iface, member=member,
                                   signature=sig, body=list(body)))
    if reply.message_type == MessageType.ERROR:
        raise RuntimeError(f"{member}: {reply.error_name} {reply.body}")
    return reply.body


def _plain(v):
    if isinstance(v, Variant):
        return _plain(v.value)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, bytes):
        return f"<{len(v)} bytes>"
    return v


def _flatten(node, out, depth=0):
    nid, props, children = node
    p = _plain(props)
    label = p.get("label")
    if isinstance(label, str):
        # GTK mnemonics: `_x` marks a key, `__` is a literal underscore.
        label = label.replace("__", "\0").replace("_", "").replace("\0", "_")
    out.append({"id": nid, "depth": depth, "label": label, "type": p.get("type", "standard"),
                "toggle_state": p.get("toggle-state"), "enabled": p.get("enabled", True),
                "submenu": bool(children)})
    for c in children:
        _flatten(c.value, out, depth + 1)


async def _item(bus):
    [items] = await _call(bus, "org.kde.StatusNotifierWatcher", "/StatusNotifierWatcher",
                          "org.freedesktop.DBus.Properties", "Get", "ss",
                          ["org.kde.StatusNotifierWatcher", "RegisteredStatusNotifierItems"])
    items = items.value
    if not items:
        return None
    dest, path = items[-1].split("/", 1)
    return dest, "/" + path


async def _dump(bus):
    found = await _item(bus)
    if not found:
        return None
    dest, path = found
    [props] = await _call(bus, dest, path, "org.freedesktop.DBus.Properties", "GetAll", "s",
                          ["org.kde.StatusNotifierItem"])
    props = _plain(props)
    menu_path = props.get("Menu", "/")
    await _call(bus, dest, menu_path, MENU, "AboutToShow", "i", [0])
    _rev, layout = await _call(bus, dest, menu_path, MENU, "GetLayout", "iias", [0, -1, []])
    menu = []
    _flatten(layout, menu)
    icon = props.get("IconName") or ""
    if icon and not icon.startswith("/"):
        icon = os.path.join(props.get("IconThemePath") or "", icon + ".png")
    return {"dest": dest, "menu_path": menu_path, "props": props, "menu": menu[1:],
            "icon_file": icon if icon and os.path.exists(icon) else None}


async def _session(fn):
    bus = await MessageBus(bus_type=BusType.SESSION).connect()
    try:
        return await fn(bus)
    finally:
        bus.disconnect()


def dump():
    """{props, menu: [{id, label, toggle_state, ...}], icon_file} or None (no tray yet)."""
    return asyncio.run(_session(_dump))


def labels(t):
    return [m["label"] for m in (t or {}).get("menu", []) if m["type"] != "separator"]


def find(t, prefix):
    return next((m for m in (t or {}).get("menu", [])
                 if isinstance(m["label"], str) and m["label"].startswith(prefix)), None)


def click(prefix):
    """Click the first item whose label starts with `prefix`; returns it."""
    async def go(bus):
        t = await _dump(bus)
        target = find(t, prefix)
        if not target:
            raise RuntimeError(f"no menu item starting {prefix!r} in {labels(t)}")
        await _call(bus, t["dest"], t["menu_path"], MENU, "Event", "isvu",
                    [target["id"], "clicked", Variant("s", ""), 0])
        return target
    return asyncio.run(_session(go))
