"""A test upstream that speaks enough OpenAI and Ollama for Lodestar: /v1/models,
/v1/chat/completions (answers with usage, so priced routes cost money), and Ollama's
/api/tags, /api/ps (one model loaded until unloaded) and /api/generate with keep_alive 0.
`model-huge` fails to load as a too-large model does on Ollama (500, out of memory).
It records the `model` of every chat request and every unload, so a test can assert which
alias's upstream model a request reached."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GIB = 1 << 30


class Upstream:
    def __init__(self):
        self.chat_models = []
        self.unloads = []
        self.loaded = {"model-alpha": 5 * GIB}
        self.lock = threading.Lock()
        up = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path.endswith("/models"):
                    self.reply(200, {"object": "list", "data": [
                        {"id": m, "object": "model", "owned_by": "e2e"}
                        for m in ("model-alpha", "model-beta")]})
                elif self.path == "/api/tags":
                    self.reply(200, {"models": [{"name": "model-alpha"}]})
                elif self.path == "/api/ps":
                    with up.lock:
                        models = [{"name": n, "size": v, "size_vram": v,
                                   "expires_at": "2099-01-01T00:00:00Z"}
                                  for n, v in up.loaded.items()]
                    self.reply(200, {"models": models})
                else:
                    self.reply(404, {"error": f"no {self.path}"})

            def do_POST(self):
                n = int(self.headers.get("content-length") or 0)
                req = json.loads(self.rfile.read(n) or b"{}")
                if self.path.endswith("/chat/completions") and req.get("model") == "model-huge":
                    # What Ollama answers when a model does not fit in memory.
                    self.reply(500, {"error": {
                        "message": "model requires more system memory (21.0 GiB) than is "
                                   "available (15.2 GiB)",
                        "type": "api_error", "param": None, "code": None}})
                elif self.path.endswith("/chat/completions"):
                    with up.lock:
                        up.chat_models.append(req.get("model"))
                    self.reply(200, {
                        "id": "chatcmpl-e2e", "object": "chat.completion",
                        "created": int(time.time()), "model": req.get("model"),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": "hello"}}],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 5,
                                  "total_tokens": 15}})
                elif self.path == "/api/generate" and req.get("keep_alive") == 0:
                    with up.lock:
                        up.unloads.append(req.get("model"))
                        up.loaded.pop(req.get("model"), None)
                    self.reply(200, {"model": req.get("model"), "done": True,
                                     "done_reason": "unload"})
                else:
                    self.reply(404, {"error": f"no {self.path}"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
