#!/usr/bin/env python3
"""Stand-in desktop services on the session bus, for the headless end-to-end test:
  * org.kde.StatusNotifierWatcher (with a host registered), so libayatana-appindicator
    exports the tray as a StatusNotifierItem with a com.canonical.dbusmenu menu;
  * org.freedesktop.Notifications, recording every Notify call.
Every event is one JSON line appended to the log file named by argv[1].
usage: services.py LOG"""
import asyncio
import json
import os
import sys
import time

from dbus_next import BusType, Message, MessageType, PropertyAccess
from dbus_next.aio import MessageBus
from dbus_next.service import ServiceInterface, dbus_property, method, signal

LOG = open(sys.argv[1], "a", buffering=1)


def log(kind, **kw):
    LOG.write(json.dumps({"t": round(time.time(), 3), "event": kind, **kw}) + "\n")


class Watcher(ServiceInterface):
    def __init__(self):
        super().__init__("org.kde.StatusNotifierWatcher")
        self.items = []

    @method()
    def RegisterStatusNotifierItem(self, service: "s"):  # handled in on_message (needs the sender)
        pass

    @method()
    def RegisterStatusNotifierHost(self, service: "s"):
        pass

    @dbus_property(access=PropertyAccess.READ)
    def RegisteredStatusNotifierItems(self) -> "as":
        return self.items

    @dbus_property(access=PropertyAccess.READ)
    def IsStatusNotifierHostRegistered(self) -> "b":
        return True

    @dbus_property(access=PropertyAccess.READ)
    def ProtocolVersion(self) -> "i":
        return 0

    @signal()
    def StatusNotifierItemRegistered(self, item) -> "s":
        return item

    @signal()
    def StatusNotifierItemUnregistered(self, item) -> "s":
        return item

    @signal()
    def StatusNotifierHostRegistered(self):
        return None


class Notifications(ServiceInterface):
    def __init__(self):
        super().__init__("org.freedesktop.Notifications")
        self.next_id = 1

    @method()
    def GetCapabilities(self) -> "as":
        return ["body"]

    @method()
    def Notify(self, app_name: "s", replaces_id: "u", app_icon: "s", summary: "s", body: "s",
               actions: "as", hints: "a{sv}", expire_timeout: "i") -> "u":
        nid = replaces_id or self.next_id
        self.next_id += 1
        log("notify", id=nid, app_name=app_name, icon=app_icon, summary=summary, body=body)
        return nid

    @method()
    def CloseNotification(self, id: "u"):
        log("close_notification", id=id)

    @method()
    def GetServerInformation(self) -> "ssss":
        return ["lodestar-e2e-notifyd", "lodestar", "0.1", "1.2"]

    @signal()
    def NotificationClosed(self, id, reason) -> "uu":
        return [id, reason]


async def main():
    bus = await MessageBus(bus_type=BusType.SESSION).connect()
    watcher, notifications = Watcher(), Notifications()

    def on_message(msg: Message):
        if (msg.message_type == MessageType.METHOD_CALL
                and msg.interface == "org.kde.StatusNotifierWatcher"
                and msg.member == "RegisterStatusNotifierItem"):
            arg = msg.body[0]
            item = msg.sender + arg if arg.startswith("/") else arg + "/StatusNotifierItem"
            if item not in watcher.items:
                watcher.items.append(item)
            log("sni_registered", item=item)
            watcher.StatusNotifierItemRegistered(item)
            bus.send(Message.new_method_return(msg))
            return True
        if (msg.message_type == MessageType.SIGNAL and msg.member == "NameOwnerChanged"
                and msg.body and msg.body[2] == ""):
            for i in [i for i in watcher.items if i.startswith(msg.body[0] + "/")]:
                watcher.items.remove(i)
                log("sni_unregistered", item=i)
                watcher.StatusNotifierItemUnregistered(i)
        return None

    bus.add_message_handler(on_message)
    await bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                           interface="org.freedesktop.DBus", member="AddMatch", signature="s",
                           body=["type='signal',member='NameOwnerChanged'"]))
    bus.export("/StatusNotifierWatcher", watcher)
    bus.export("/org/freedesktop/Notifications", notifications)
    for name in ("org.kde.StatusNotifierWatcher", f"org.kde.StatusNotifierHost-{os.getpid()}",
                 "org.freedesktop.Notifications"):
        await bus.request_name(name)
    watcher.StatusNotifierHostRegistered()
    log("ready", pid=os.getpid())
    await asyncio.get_running_loop().create_future()


asyncio.run(main())
