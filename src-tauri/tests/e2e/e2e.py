#!/usr/bin/env python3
"""End-to-end test of the desktop app, run the way a user's desktop runs it: the real binary
under Xvfb with a session D-Bus (run.sh sets both up), a stand-in tray host and notification
server (services.py), a test upstream (upstream.py) and a fake GPU file.

usage: e2e.py BIN ARTIFACTS [--idle-seconds N]
Checks, in order: the in-process proxy answers on loopback; the tray menu over D-Bus lists the
aliases with the default checked; clicking an alias in the menu routes the next `auto` request
to that alias's upstream model; a priced request crosses a budget threshold and a real Notify
reaches the session bus; a provider going down is notified and named in the menu; the fake GPU
at 90% changes the PNG the tray's IconName points to; Unload, Local only, Copy endpoint URL and
a notification mute work from the menu; "Open Lodestar" shows the window (screenshot kept) and
closing it leaves no WebKit process; Quit exits 0 with every request in the ledger.
Memory and CPU of the process tree are measured idle (window never opened), window open, and
after the window closed; the figures go to ARTIFACTS/measure.txt and measure.json."""
import argparse
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import measure  # noqa: E402
import tray  # noqa: E402
from upstream import GIB, Upstream  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("bin")
ap.add_argument("artifacts")
ap.add_argument("--idle-seconds", type=float, default=10.0)
ap.add_argument("--serve", help="the `lodestar` CLI: also test attaching to `lodestar serve`")
args = ap.parse_args()
BIN = os.path.abspath(args.bin)
OUT = os.path.abspath(args.artifacts)
os.makedirs(OUT, exist_ok=True)

results = []
T0 = time.time()


def check(name, cond, detail=""):
    results.append((name, bool(cond)))
    mark = "ok  " if cond else "FAIL"
    print(f"{mark} [{time.time() - T0:5.1f}s] {name}" + (f"  -- {detail}" if detail and not cond
                                                          else ""), flush=True)
    return bool(cond)


def wait_for(fn, timeout=15.0, every=0.2):
    """fn's first truthy result within timeout, else the last result."""
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            last = fn()
        except Exception as e:  # the thing waited for may not exist yet
            last = None
            err = e
        if last:
            return last
        time.sleep(every)
    return last


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ---------------------------------------------------------------- the world around the app
work = os.path.join(OUT, "work")
shutil.rmtree(work, ignore_errors=True)
home = os.path.join(work, "home")
runtime = os.path.join(work, "run")
for d in (home, runtime):
    os.makedirs(d, mode=0o700)
services_log = os.path.join(OUT, "services.jsonl")
open(services_log, "w").close()
services = subprocess.Popen([sys.executable, os.path.join(HERE, "services.py"), services_log],
                            stderr=open(os.path.join(OUT, "services.err"), "w"))


def bus_events(kind):
    return [e for e in map(json.loads, open(services_log)) if e["event"] == kind]


wait_for(lambda: bus_events("ready"), 10)
up = Upstream()
port = free_port()
addr = f"127.0.0.1:{port}"
gpu_file = os.path.join(work, "gpu.json")


def set_gpu(util, used_gib, total_gib=16):
    tmp = gpu_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump([{"index": 0, "name": "Fake GPU", "utilization_pct": util,
                    "memory_used_bytes": used_gib * GIB, "memory_total_bytes": total_gib * GIB,
                    "temperature_c": 50, "power_w": 100.0, "processes": []}], f)
    os.replace(tmp, gpu_file)


set_gpu(20, 4)
ghost_port = free_port()


def write_config(path, port, db):
    with open(path, "w") as f:
        f.write(f"""
server: {{ listen: "127.0.0.1:{port}" }}
providers:
  local:
    kind: ollama
    base_url: http://127.0.0.1:{up.port}
  paid:
    kind: openai-compatible
    base_url: http://127.0.0.1:{up.port}/v1
    prices: {{"*": {{ input: 1000, output: 1000 }}}}
  ghost:
    kind: openai-compatible
    base_url: http://127.0.0.1:{ghost_port}/v1
    discover_models: false
    on_down: "echo e2e on_down; exit 3"
models:
  alpha: {{ route: [local/model-alpha] }}
  beta: {{ route: [paid/model-beta] }}
  huge: {{ route: [local/model-huge, local/model-alpha] }}
routing: {{ default: alpha }}
budgets:
  tiny: {{ period: day, usd: 0.01, thresholds: [50] }}
storage: {{ path: "{db}" }}
gpu: {{ interval: 500ms }}
""")


config = os.path.join(work, "config.yml")
write_config(config, port, os.path.join(work, "lodestar.db"))
env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"),
           XDG_DATA_HOME=os.path.join(home, ".local/share"), XDG_RUNTIME_DIR=runtime,
           LODESTAR_CONFIG=config, LODESTAR_FAKE_GPU_FILE=gpu_file,
           RUST_LOG=os.environ.get("RUST_LOG", "info"))
env.pop("OPENAI_API_KEY", None)
app_log = open(os.path.join(OUT, "app.log"), "w")
t_start = time.time()
app = subprocess.Popen([BIN], env=env, stdout=app_log, stderr=subprocess.STDOUT)


def http(method, path, body=None, timeout=10, at=None):
    req = urllib.request.Request(f"http://{at or addr}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def chat(model, at=None):
    return http("POST", "/v1/chat/completions",
                {"model": model, "messages": [{"role": "user", "content": "hi"}]}, at=at)


def webkit_procs(root=None):
    pids = measure.tree(root) if root else [int(p) for p in os.listdir("/proc") if p.isdigit()]
    return [(p, measure.name(p)) for p in pids if measure.name(p).startswith("WebKit")]


def notified(prefix):
    return [n for n in bus_events("notify") if n["summary"].startswith(prefix)]


def icon_png():
    t = tray.dump()
    return t and t["icon_file"]


def util_rows(png):
    """Rows of the utilization bar filled, its colour, and the frame colour (icon.rs layout)."""
    from PIL import Image
    im = Image.open(png).convert("RGBA")
    assert im.size == (32, 32), im.size
    x = 12  # the middle of the utilization bar (columns 5..20)
    col = [im.getpixel((x, y)) for y in range(4, 28)]
    filled = [p for p in col if p[:3] in ((60, 200, 100), (235, 70, 60))]  # icon::UTIL, UTIL_HIGH
    return len(filled), (filled[-1][:3] if filled else None), im.getpixel((4, 4))[:3]


def attach_scenario():
    """A headless `lodestar serve` holds the address: the app attaches and drives it."""
    global app
    port2 = free_port()
    at = f"127.0.0.1:{port2}"
    config2 = os.path.join(work, "serve.yml")
    write_config(config2, port2, os.path.join(work, "serve.db"))
    serve_env = dict(env, LODESTAR_CONFIG=config2)
    serve = subprocess.Popen([args.serve, "serve"], env=serve_env,
                             stdout=open(os.path.join(OUT, "serve.log"), "w"),
                             stderr=subprocess.STDOUT)
    try:
        ok = wait_for(lambda: http("GET", "/health", at=at)[0] == 200, 30)
        check("attach: `lodestar serve` answers", ok)
        app = subprocess.Popen([BIN], env=serve_env, stdout=app_log, stderr=subprocess.STDOUT)
        t = wait_for(lambda: (lambda t: t if tray.find(t, "beta —") else None)(tray.dump()), 20)
        check("attach: the tray says it is attached to `lodestar serve`",
              tray.find(t, f"Lodestar: attached to `lodestar serve` on {at}"), tray.labels(t))
        check("attach: no GPU here (the CLI reads NVML): the icon is grey, nothing filled",
              t and t["icon_file"] and util_rows(t["icon_file"])[0] == 0
              and util_rows(t["icon_file"])[2] in ((140, 140, 140), (255, 166, 0)),
              t and t["icon_file"] and util_rows(t["icon_file"]))
        check("attach: the notification mute survived the restart",
              (tray.find(t, "Budget thresholds") or {}).get("toggle_state") == 0)
        tray.click("Budget thresholds crossed")
        tray.click("beta —")
        ok = wait_for(lambda: http("GET", "/admin/api/routing", at=at)[1].get("default")
                      == "beta", 10)
        check("attach: clicking an alias switches the attached server", ok)
        before = len(notified("Budget tiny"))
        status, _ = chat("auto", at=at)
        check("attach: the next `auto` request reaches beta's upstream",
              status == 200 and up.chat_models[-1:] == ["model-beta"], up.chat_models)
        n = wait_for(lambda: len(notified("Budget tiny")) > before, 15)
        check("attach: the budget event comes over SSE and is notified (unmuted again)", n)
        tray.click("Quit (the attached server keeps running)")
        try:
            rc = app.wait(20)
        except subprocess.TimeoutExpired:
            rc = None
        check("attach: Quit exits 0", rc == 0, rc)
        check("attach: ... and the server keeps running",
              http("GET", "/health", at=at)[0] == 200)

        # The server goes away under an attached app: "Try again" starts the engine here.
        app = subprocess.Popen([BIN], env=serve_env, stdout=app_log, stderr=subprocess.STDOUT)
        wait_for(lambda: tray.find(tray.dump(), "Lodestar: attached"), 20)
    finally:
        serve.terminate()
        try:
            rc = serve.wait(20)
        except subprocess.TimeoutExpired:
            serve.kill()
            rc = None
        check("attach: `lodestar serve` stops cleanly", rc == 0, rc)
    t = wait_for(lambda: (lambda t: t if tray.find(t, "Try again") else None)(tray.dump()), 15)
    check("attach: the server gone, the menu offers Try again", t, tray.labels(tray.dump()))
    tray.click("Try again")
    t = wait_for(lambda: (lambda t: t if tray.find(t, f"Lodestar on {at}") else None)(
        tray.dump()), 20)
    check("attach: Try again starts the engine in the app on the freed address", t,
          tray.labels(tray.dump()))
    check("attach: ... and it serves", chat("auto", at=at)[0] == 200)
    tray.click("Quit Lodestar")
    try:
        rc = app.wait(20)
    except subprocess.TimeoutExpired:
        rc = None
    check("attach: Quit exits 0", rc == 0, rc)


figures = {}
try:
    # ------------------------------------------------------------ the proxy, in-process
    ok = wait_for(lambda: http("GET", "/health")[0] == 200, 30)
    check("the in-process proxy answers on loopback", ok)
    figures["first_answer_s"] = round(time.time() - t_start, 2)
    status, _ = chat("auto")
    check("an `auto` request goes through the proxy", status == 200, status)
    check("... to the default alias's upstream model (alpha)",
          up.chat_models[-1:] == ["model-alpha"], up.chat_models)

    # ------------------------------------------------------------ the tray over D-Bus
    t = wait_for(lambda: (lambda t: t if tray.find(t, "beta") and tray.find(t, "Loaded")
                          else None)(tray.dump()), 20)
    lbl = tray.labels(t)
    check("the tray registered with the StatusNotifierWatcher", t is not None)
    check("the menu lists the aliases",
          "alpha — local/model-alpha" in lbl and "beta — paid/model-beta" in lbl, lbl)
    alpha, beta = tray.find(t, "alpha —"), tray.find(t, "beta —")
    check("the default alias is checked",
          alpha and alpha["toggle_state"] == 1 and beta["toggle_state"] == 0, (alpha, beta))
    check("the header says the engine runs in the app", f"Lodestar on {addr}" in lbl, lbl)
    check("the GPU line shows the fake GPU", "GPU 20% · VRAM 4.0 GiB / 16.0 GiB" in lbl, lbl)
    check("loaded local models with their VRAM",
          "model-alpha — 5.0 GiB VRAM (local)" in lbl, lbl)
    first_icon = icon_png()
    rows0 = util_rows(first_icon) if first_icon else None
    check("the tray icon is drawn at 20% (5 of 24 rows)", rows0 and rows0[0] == 5, rows0)

    # ------------------------------------------------------------ the quick switch
    tray.click("beta —")
    ok = wait_for(lambda: http("GET", "/admin/api/routing")[1].get("default") == "beta", 10)
    check("clicking an alias in the tray switches the engine's default", ok)
    t = wait_for(lambda: (lambda t: t if (tray.find(t, "beta —") or {}).get("toggle_state") == 1
                          else None)(tray.dump()), 10)
    check("... and the menu shows it checked, alpha unchecked",
          t and tray.find(t, "alpha —")["toggle_state"] == 0)
    status, _ = chat("auto")
    check("the next `auto` request reaches beta's upstream model",
          status == 200 and up.chat_models[-1:] == ["model-beta"], (status, up.chat_models))

    # ------------------------------------------------------------ notifications
    n = wait_for(lambda: notified("Budget tiny"), 15)
    check("a budget threshold crossed sends a real Notify on the session bus",
          n and n[0]["summary"] == "Budget tiny: 50% used" and n[0]["app_name"] == "Lodestar", n)
    t = wait_for(lambda: (lambda t: t if tray.find(t, "Budget tiny") else None)(tray.dump()), 10)
    check("the menu shows spend and the budget's pace",
          tray.find(t, "Spend: $0.0") and tray.find(t, "Budget tiny (day)"), tray.labels(t))
    for _ in range(3):  # three failed requests in a row: the provider is down
        chat("ghost/x")
    n = wait_for(lambda: notified("Provider ghost is down"), 15)
    check("a provider going down is notified", n, bus_events("notify"))
    n = wait_for(lambda: notified("on_down for ghost failed"), 15)
    check("a failed on_down command is notified", n and "exited 3" in n[0]["summary"], n)
    t = wait_for(lambda: (lambda t: t if tray.find(t, "Down: ghost") else None)(tray.dump()), 10)
    check("the menu names the down provider", t, tray.labels(tray.dump()))
    status, _ = chat("huge")
    check("a local model that fails to load: the request falls back",
          status == 200 and up.chat_models[-1:] == ["model-alpha"], (status, up.chat_models))
    n = wait_for(lambda: notified("Local model local/model-huge failed to load"), 15)
    check("... and the failure is notified with the model server's words",
          n and "requires more system memory" in n[0]["body"], bus_events("notify"))

    # ------------------------------------------------------------ the icon follows the GPU
    set_gpu(90, 12)
    png = wait_for(lambda: (lambda p: p if p and p != first_icon and util_rows(p)[0] >= 20
                            else None)(icon_png()), 15)
    rows = util_rows(png) if png else None
    check("90% GPU load: the icon's PNG (IconName) changed and shows 90% (22 of 24 rows, red)",
          rows and rows[0] == 22 and rows[1] == (235, 70, 60), rows)
    check("... with the warning tint (a provider is down, a budget passed a threshold)",
          rows and rows[2] == (255, 166, 0), rows)
    if png:
        shutil.copy(png, os.path.join(OUT, "tray-icon-90pct.png"))
    t = tray.dump()
    check("the GPU line follows", "GPU 90% · VRAM 12.0 GiB / 16.0 GiB" in tray.labels(t),
          tray.labels(t))

    # ------------------------------------------------------------ more menu items
    tray.click("Unload model-alpha")
    ok = wait_for(lambda: up.unloads == ["model-alpha"], 10)
    check("Unload asks Ollama to unload the model (keep_alive: 0)", ok, up.unloads)
    t = wait_for(lambda: (lambda t: t if tray.find(t, "No local model loaded") else None)(
        tray.dump()), 10)
    check("... and the menu shows it gone", t)

    tray.click("Local only")
    ok = wait_for(lambda: http("GET", "/admin/api/routing")[1].get("local_only") is True, 10)
    check("Local only turns the engine's local-only mode on", ok)
    tray.click("Local only")
    ok = wait_for(lambda: http("GET", "/admin/api/routing")[1].get("local_only") is False, 10)
    check("... and off again", ok)

    tray.click("Pause proxy")
    ok = wait_for(lambda: chat("auto")[0] == 503, 10)
    check("Pause proxy: model requests get 503 (paused)", ok)
    t = wait_for(lambda: (lambda t: t if tray.find(t, "Resume proxy") else None)(tray.dump()), 10)
    check("... the menu says paused and offers Resume",
          t and tray.find(t, f"Lodestar on {addr} — paused"), tray.labels(t))
    tray.click("Resume proxy")
    ok = wait_for(lambda: chat("auto")[0] == 200, 10)
    check("Resume proxy: requests are served again", ok)

    if shutil.which("xclip"):
        tray.click(f"OpenAI: http://{addr}/v1")
        got = wait_for(lambda: subprocess.run(
            ["xclip", "-o", "-selection", "clipboard"], capture_output=True, text=True,
            timeout=5).stdout, 5)
        check("Copy endpoint URL puts the OpenAI base URL on the clipboard",
              got == f"http://{addr}/v1", got)

    autostart = os.path.join(home, ".config/autostart/Lodestar.desktop")
    tray.click("Start at login")
    ok = wait_for(lambda: os.path.exists(autostart), 10)
    exec_line = [l for l in open(autostart)] if ok else []
    check("Start at login adds the login item", ok and any(BIN in l for l in exec_line),
          exec_line)
    t = wait_for(lambda: (lambda t: t if (tray.find(t, "Start at login") or {}).get(
        "toggle_state") == 1 else None)(tray.dump()), 10)
    check("... and shows checked", t)
    tray.click("Start at login")
    check("... and removes it again", wait_for(lambda: not os.path.exists(autostart), 10))

    tray.click("Budget thresholds crossed")
    t = wait_for(lambda: (lambda t: t if (tray.find(t, "Budget thresholds") or {}).get(
        "toggle_state") == 0 else None)(tray.dump()), 10)
    prefs = os.path.join(home, ".local/share/dev.lodestar.desktop/preferences.json")
    saved = wait_for(lambda: json.load(open(prefs)).get("notifications.budget_threshold")
                     is False, 5)
    check("muting a notification kind is saved in the app's preferences", t and saved)
    ok = wait_for(lambda: http("GET", "/admin/api/preferences")[1]["notifications"]
                  .get("budget_threshold") is False, 10)
    check("... and in the engine's (the UI's Settings page reads them there)", ok)
    status, _ = http("PUT", "/admin/api/preferences", {"notifications": {"budget_threshold": True}})
    t = wait_for(lambda: (lambda t: t if (tray.find(t, "Budget thresholds") or {}).get(
        "toggle_state") == 1 else None)(tray.dump()), 10)
    check("unmuting it through the admin API (the UI) shows in the tray menu", status == 200 and t,
          status)
    tray.click("Budget thresholds crossed")
    wait_for(lambda: http("GET", "/admin/api/preferences")[1]["notifications"]
             .get("budget_threshold") is False, 10)

    # ------------------------------------------------------------ idle, window never opened
    time.sleep(2)
    idle = measure.measure(app.pid, args.idle_seconds)
    figures["idle_never_opened"] = idle
    check("no WebKit process before the window is opened", not webkit_procs(app.pid),
          webkit_procs(app.pid))

    # ------------------------------------------------------------ the settings window
    tray.click("Open Lodestar")
    web = wait_for(lambda: [p for p in webkit_procs(app.pid) if p[1].startswith("WebKitWebProc")], 30)
    check("Open Lodestar starts the window (a WebKit web process)", web, webkit_procs(app.pid))
    t = wait_for(lambda: (lambda t: t if tray.find(t, "Close Lodestar window") else None)(
        tray.dump()), 10)
    check("the menu offers Close Lodestar window", t)
    time.sleep(6)  # let the page load and paint (software rendering)
    shot = os.path.join(OUT, "settings-window.png")
    subprocess.run(["import", "-window", "root", shot], timeout=30)
    check("screenshot of the window saved", os.path.exists(shot), shot)
    figures["window_open"] = measure.measure(app.pid, 3)
    tray.click("Close Lodestar window")
    gone = wait_for(lambda: not webkit_procs(), 15)
    check("closing the window leaves no WebKit process (web or network)", gone, webkit_procs())
    t = wait_for(lambda: (lambda t: t if tray.find(t, "Open Lodestar") else None)(tray.dump()),
                 10)
    check("the menu offers Open Lodestar again", t)
    time.sleep(2)
    figures["idle_after_close"] = measure.measure(app.pid, args.idle_seconds)

    # A second launch (the desktop entry clicked again) opens the first one's window, then exits.
    second = subprocess.run([BIN], env=env, capture_output=True, timeout=30)
    check("a second launch exits at once (single instance)", second.returncode == 0,
          second.returncode)
    t = wait_for(lambda: (lambda t: t if tray.find(t, "Close Lodestar window") else None)(
        tray.dump()), 15)
    check("... and opens the running app's window", t, tray.labels(tray.dump()))
    tray.click("Close Lodestar window")
    check("... which closes from the menu", wait_for(lambda: not webkit_procs(), 15))

    # ------------------------------------------------------------ quit
    tray.click("Quit Lodestar")
    try:
        rc = app.wait(20)
    except subprocess.TimeoutExpired:
        rc = None
    check("Quit exits cleanly (status 0)", rc == 0, rc)
    with sqlite3.connect(os.path.join(work, "lodestar.db")) as db:
        rows = db.execute("SELECT model FROM requests ORDER BY ts_ms").fetchall()
    models = [r[0] for r in rows]
    check("every request is in the ledger after Quit (flushed)",
          # alpha: the first `auto` request and the fallback from model-huge
          models.count("model-alpha") == 2 and models.count("model-beta") >= 2, models)
    if args.serve:
        attach_scenario()
finally:
    if app.poll() is None:
        app.kill()
        app.wait()
    services.kill()
    up.close()
    with open(os.path.join(OUT, "measure.json"), "w") as f:
        json.dump(figures, f, indent=1)
    with open(os.path.join(OUT, "measure.txt"), "w") as f:
        for k in ("idle_never_opened", "window_open", "idle_after_close"):
            if k in figures:
                f.write(measure.report(k, figures[k]) + "\n")
    if os.path.exists(os.path.join(OUT, "measure.txt")):
        print(open(os.path.join(OUT, "measure.txt")).read(), end="")

failed = [n for n, ok in results if not ok]
print(f"e2e: {len(results) - len(failed)} passed, {len(failed)} failed, "
      f"{time.time() - T0:.0f}s")
sys.exit(1 if failed else 0)
