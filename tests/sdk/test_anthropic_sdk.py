"""The official `anthropic` Python SDK against a running Lodestar (LODESTAR_BASE_URL, the proxy's
root, no /v1).

Run by tests/sdk_anthropic.rs, which starts the proxy and a test upstream first and afterwards
checks what reached the upstream: the `*-marker` words in the prompts below let it find each
request, and the `SIGNATURE <label> <sig>` lines this script prints on stdout name the thinking
signatures it must find again, byte for byte, in the follow-up requests.

Every case runs twice: on a translated route (aliases `t…`: Messages translated to an
OpenAI-format upstream) and on a native one (aliases `n…`: Messages passed through to an
Anthropic-format upstream). The upstream answers "echo: <last user text>" (plus " [images: K]"),
turns `call: NAME {JSON}` lines into tool calls, answers tool results with
"tool results: ID=CONTENT; …", and misbehaves when the route's model string asks it to.
"""
import os
import sys
import unittest

import anthropic

BASE = os.environ["LODESTAR_BASE_URL"]
# A 1x1 PNG.
PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
IMAGE_URL = "https://example.com/cat.png"

TOOLS = [
    {
        "name": "get_weather",
        "description": "Current weather in a city",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
    {
        "name": "get_time",
        "description": "Local time in a city",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "format": {"type": "string"}},
            "required": ["city"],
        },
    },
]
THINKING = {"type": "enabled", "budget_tokens": 1024}


def client():
    return anthropic.Anthropic(base_url=BASE, api_key="client-key-not-forwarded", max_retries=0)


def user(content):
    return {"role": "user", "content": content}


def text_of(message):
    return "".join(b.text for b in message.content if b.type == "text")


def tool_uses(message):
    return [b for b in message.content if b.type == "tool_use"]


def report_signature(label, signature):
    """Tells the Rust harness which signature the next request must carry unchanged."""
    print(f"SIGNATURE {label} {signature}", flush=True)


class Cases:
    """The cases, run on the route family `ROUTE` (`t` translated, `n` native)."""

    ROUTE = ""
    EXPECT_ROUTE = ""

    @property
    def native(self):
        return self.ROUTE == "n"

    def model(self, knob=""):
        return self.ROUTE + knob

    def marker(self, name):
        return f"{name}-{self.ROUTE}-marker"

    def create(self, **kw):
        kw.setdefault("model", self.model())
        kw.setdefault("max_tokens", 256)
        return client().messages.create(**kw)

    # -- text ---------------------------------------------------------------------------------

    def test_text(self):
        raw = client().messages.with_raw_response.create(
            model=self.model(), max_tokens=100, messages=[user("hello sdk")]
        )
        self.assertEqual(raw.headers["x-lodestar-route"], self.EXPECT_ROUTE)
        m = raw.parse()
        self.assertIsInstance(m, anthropic.types.Message)
        self.assertTrue(m.id.startswith("msg_"), m.id)
        self.assertEqual(m.type, "message")
        self.assertEqual(m.role, "assistant")
        self.assertEqual(len(m.content), 1)
        self.assertEqual(m.content[0].type, "text")
        self.assertEqual(m.content[0].text, "echo: hello sdk")
        self.assertEqual(m.stop_reason, "end_turn")
        self.assertGreater(m.usage.input_tokens, 0)
        self.assertGreater(m.usage.output_tokens, 0)

    def test_multi_turn(self):
        first = self.create(messages=[user("first question")])
        self.assertEqual(text_of(first), "echo: first question")
        mark = self.marker("multi-turn")
        m = self.create(
            messages=[
                user("first question"),
                {"role": "assistant", "content": first.content},
                user(f"second question {mark}"),
            ]
        )
        self.assertEqual(text_of(m), f"echo: second question {mark}")

    def test_system_as_string(self):
        mark = self.marker("system-string")
        m = self.create(system=f"be brief {mark}", messages=[user("hi with a system string")])
        self.assertEqual(text_of(m), "echo: hi with a system string")

    def test_system_as_blocks(self):
        mark = self.marker("system-blocks")
        m = self.create(
            system=[{"type": "text", "text": f"rule one {mark}"}, {"type": "text", "text": "rule two"}],
            messages=[user("hi with system blocks")],
        )
        self.assertEqual(text_of(m), "echo: hi with system blocks")

    # -- images -------------------------------------------------------------------------------

    def test_base64_image(self):
        mark = self.marker("image-base64")
        m = self.create(
            messages=[
                user(
                    [
                        {"type": "text", "text": f"what is this {mark}"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
                        },
                    ]
                )
            ]
        )
        self.assertEqual(text_of(m), f"echo: what is this {mark} [images: 1]")

    def test_url_image(self):
        mark = self.marker("image-url")
        m = self.create(
            messages=[
                user(
                    [
                        {"type": "image", "source": {"type": "url", "url": IMAGE_URL}},
                        {"type": "text", "text": f"and this {mark}"},
                    ]
                )
            ]
        )
        self.assertIn("[images: 1]", text_of(m))
        self.assertEqual(text_of(m), f"echo: and this {mark} [images: 1]")

    # -- tools --------------------------------------------------------------------------------

    def test_single_tool_call_and_result(self):
        mark = self.marker("single-tool")
        messages = [user(f'{mark}\ncall: get_weather {{"city": "Paris"}}')]
        m = self.create(tools=TOOLS, messages=messages)
        self.assertEqual(m.stop_reason, "tool_use")
        uses = tool_uses(m)
        self.assertEqual(len(uses), 1, m.content)
        self.assertEqual(uses[0].name, "get_weather")
        self.assertEqual(uses[0].input, {"city": "Paris"})
        self.assertTrue(uses[0].id)
        self.assertEqual(text_of(m), "")

        messages += [
            {"role": "assistant", "content": m.content},
            user([{"type": "tool_result", "tool_use_id": uses[0].id, "content": "sunny, 21C"}]),
        ]
        answer = self.create(tools=TOOLS, messages=messages)
        self.assertEqual(answer.stop_reason, "end_turn")
        self.assertEqual(text_of(answer), f"tool results: {uses[0].id}=sunny, 21C")

    def test_parallel_tool_calls_and_results_with_an_error(self):
        mark = self.marker("parallel-tools")
        messages = [
            user(
                f"{mark}\n"
                'call: get_weather {"city": "Paris"}\n'
                'call: get_time {"city": "Tokyo", "format": "24h"}'
            )
        ]
        m = self.create(tools=TOOLS, messages=messages)
        self.assertEqual(m.stop_reason, "tool_use")
        uses = tool_uses(m)
        self.assertEqual([u.name for u in uses], ["get_weather", "get_time"])
        self.assertEqual(uses[0].input, {"city": "Paris"})
        self.assertEqual(uses[1].input, {"city": "Tokyo", "format": "24h"})
        self.assertNotEqual(uses[0].id, uses[1].id)

        messages += [
            {"role": "assistant", "content": m.content},
            user(
                [
                    {"type": "tool_result", "tool_use_id": uses[0].id, "content": "sunny"},
                    {
                        "type": "tool_result",
                        "tool_use_id": uses[1].id,
                        "content": [{"type": "text", "text": "clock broken"}],
                        "is_error": True,
                    },
                ]
            ),
        ]
        answer = self.create(tools=TOOLS, messages=messages)
        a, b = uses[0].id, uses[1].id
        if self.native:
            # The Anthropic-format upstream sees `is_error` itself.
            want = f"tool results: {a}=sunny; {b}=clock broken (error)"
        else:
            # Translated: an error result becomes a tool message prefixed `[tool error] `.
            want = f"tool results: {a}=sunny; {b}=[tool error] clock broken"
        self.assertEqual(text_of(answer), want)

    def test_tool_choice_one_tool_without_parallel_calls(self):
        mark = self.marker("tool-choice")
        m = self.create(
            tools=TOOLS,
            tool_choice={"type": "tool", "name": "get_time", "disable_parallel_tool_use": True},
            messages=[user(f'{mark}\ncall: get_time {{"city": "Rome"}}')],
        )
        self.assertEqual([(u.name, u.input) for u in tool_uses(m)], [("get_time", {"city": "Rome"})])

    def test_thinking_with_tools_round_trip(self):
        mark = self.marker("thinking-tools")
        messages = [user(f'{mark}\ncall: get_weather {{"city": "Oslo"}}')]
        m = self.create(
            model=self.model("-think"), max_tokens=2048, thinking=THINKING, tools=TOOLS, messages=messages
        )
        self.assertEqual([b.type for b in m.content], ["thinking", "tool_use"])
        thinking, use = m.content
        self.assertTrue(thinking.thinking.startswith("thinking about:"), thinking.thinking)
        self.assertEqual(use.name, "get_weather")
        self.assertEqual(use.input, {"city": "Oslo"})
        self.assertEqual(m.stop_reason, "tool_use")
        if self.native:
            self.assertTrue(thinking.signature.startswith("sig-"), thinking.signature)
            report_signature("json", thinking.signature)

        messages += [
            {"role": "assistant", "content": m.content},
            user([{"type": "tool_result", "tool_use_id": use.id, "content": "snow"}]),
        ]
        answer = self.create(
            model=self.model("-think"), max_tokens=2048, thinking=THINKING, tools=TOOLS, messages=messages
        )
        self.assertEqual([b.type for b in answer.content], ["thinking", "text"])
        self.assertEqual(text_of(answer), f"tool results: {use.id}=snow")
        self.assertEqual(answer.content[0].thinking, f"thinking about: tool results: {use.id}=snow")

    # -- streams ------------------------------------------------------------------------------

    def test_stream_text(self):
        with client().messages.stream(
            model=self.model(), max_tokens=100, messages=[user("stream me please")]
        ) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
        self.assertEqual(text, "echo: stream me please")
        self.assertEqual(text_of(final), "echo: stream me please")
        self.assertEqual(final.stop_reason, "end_turn")
        self.assertTrue(final.id.startswith("msg_"), final.id)
        self.assertGreater(final.usage.input_tokens, 0)
        self.assertGreater(final.usage.output_tokens, 0)

    def test_stream_tools(self):
        mark = self.marker("stream-tools")
        with client().messages.stream(
            model=self.model(),
            max_tokens=256,
            tools=TOOLS,
            messages=[
                user(
                    f"{mark}\n"
                    'call: get_weather {"city": "Lima"}\n'
                    'call: get_time {"city": "Quito", "format": "12h"}'
                )
            ],
        ) as stream:
            kinds = [event.type for event in stream]
            final = stream.get_final_message()
        self.assertIn("input_json", kinds)
        self.assertEqual(final.stop_reason, "tool_use")
        uses = tool_uses(final)
        self.assertEqual([u.name for u in uses], ["get_weather", "get_time"])
        # The stream helper parsed the streamed JSON fragments back into dicts.
        self.assertIsInstance(uses[0].input, dict)
        self.assertEqual(uses[0].input, {"city": "Lima"})
        self.assertEqual(uses[1].input, {"city": "Quito", "format": "12h"})
        self.assertGreater(final.usage.output_tokens, 0)

        messages = [
            user(f"{mark}\ncall: get_weather {{\"city\": \"Lima\"}}"),
            {"role": "assistant", "content": final.content},
            user([{"type": "tool_result", "tool_use_id": u.id, "content": f"ok {i}"} for i, u in enumerate(uses)]),
        ]
        with client().messages.stream(
            model=self.model(), max_tokens=256, tools=TOOLS, messages=messages
        ) as stream:
            answer = stream.get_final_message()
        self.assertEqual(text_of(answer), f"tool results: {uses[0].id}=ok 0; {uses[1].id}=ok 1")

    def test_stream_thinking_with_tools(self):
        mark = self.marker("stream-thinking")
        messages = [user(f'{mark}\ncall: get_time {{"city": "Nairobi"}}')]
        with client().messages.stream(
            model=self.model("-think"), max_tokens=2048, thinking=THINKING, tools=TOOLS, messages=messages
        ) as stream:
            thinking_text = "".join(e.thinking for e in stream if e.type == "thinking")
            final = stream.get_final_message()
        self.assertEqual([b.type for b in final.content], ["thinking", "tool_use"])
        thinking, use = final.content
        self.assertEqual(thinking_text, thinking.thinking)
        self.assertTrue(thinking.thinking.startswith("thinking about:"), thinking.thinking)
        self.assertEqual(use.name, "get_time")
        self.assertEqual(use.input, {"city": "Nairobi"})
        self.assertEqual(final.stop_reason, "tool_use")
        if self.native:
            self.assertTrue(thinking.signature.startswith("sig-"), thinking.signature)
            report_signature("stream", thinking.signature)

        messages += [
            {"role": "assistant", "content": final.content},
            user([{"type": "tool_result", "tool_use_id": use.id, "content": "noon"}]),
        ]
        with client().messages.stream(
            model=self.model("-think"), max_tokens=2048, thinking=THINKING, tools=TOOLS, messages=messages
        ) as stream:
            answer = stream.get_final_message()
        self.assertEqual([b.type for b in answer.content], ["thinking", "text"])
        self.assertEqual(text_of(answer), f"tool results: {use.id}=noon")

    # -- usage, token counts ------------------------------------------------------------------

    def test_cached_tokens(self):
        # `cached_7`: the upstream reports 7 cached prompt tokens on top of the prompt's 4 words.
        m = self.create(model=self.model("-cached"), messages=[user("count my cached tokens")])
        self.assertEqual(m.usage.cache_read_input_tokens, 7)
        self.assertEqual(m.usage.input_tokens, 4)
        with client().messages.stream(
            model=self.model("-cached"), max_tokens=100, messages=[user("count my cached tokens")]
        ) as stream:
            final = stream.get_final_message()
        self.assertEqual(final.usage.cache_read_input_tokens, 7)
        self.assertEqual(final.usage.input_tokens, 4)

    def test_count_tokens(self):
        mark = self.marker("count-tokens")
        raw = client().messages.with_raw_response.count_tokens(
            model=self.model(),
            system="You are terse.",
            tools=TOOLS,
            messages=[user(f"Count the tokens in this sentence, please. {mark}")],
        )
        self.assertEqual(raw.headers["x-lodestar-count"], "upstream" if self.native else "estimate")
        self.assertGreater(raw.parse().input_tokens, 0)

    # -- errors -------------------------------------------------------------------------------

    def test_unknown_model_is_not_found(self):
        with self.assertRaises(anthropic.NotFoundError) as e:
            self.create(model="no-such-model", messages=[user("x")])
        self.assertEqual(e.exception.status_code, 404)
        self.assertIn("no-such-model", str(e.exception))
        with self.assertRaises(anthropic.NotFoundError):
            with client().messages.stream(model="no-such-model", max_tokens=10, messages=[user("x")]) as s:
                s.get_final_message()

    def test_upstream_400_is_a_bad_request(self):
        with self.assertRaises(anthropic.BadRequestError) as e:
            self.create(model=self.model("-bad"), messages=[user("x")])
        self.assertEqual(e.exception.status_code, 400)
        self.assertEqual(e.exception.body["error"]["type"], "invalid_request_error")

    def test_every_entry_failing_is_a_502(self):
        # The SDK maps any status >= 500 without its own class (502 has none) to InternalServerError.
        with self.assertRaises(anthropic.InternalServerError) as e:
            self.create(model=self.model("-down"), messages=[user("x")])
        self.assertEqual(e.exception.status_code, 502)
        self.assertEqual(e.exception.body["type"], "error")

    def test_a_stream_cut_mid_way_raises(self):
        text = ""
        with self.assertRaises(anthropic.APIError) as e:
            with client().messages.stream(
                model=self.model("-broken"), max_tokens=100, messages=[user("a b c d")]
            ) as stream:
                for piece in stream.text_stream:
                    text += piece
        self.assertEqual(text, "c0 c1", "the chunks before the cut should arrive")
        # The proxy ends the cut stream with an `error` event, which the SDK raises.
        self.assertIsInstance(e.exception, anthropic.APIStatusError)
        self.assertEqual(e.exception.body["type"], "error")

    def test_an_in_band_stream_error_raises(self):
        text = ""
        with self.assertRaises(anthropic.APIStatusError) as e:
            with client().messages.stream(
                model=self.model("-overloaded"), max_tokens=100, messages=[user("a b c d")]
            ) as stream:
                for piece in stream.text_stream:
                    text += piece
        self.assertEqual(text, "c0 c1")
        self.assertIn("overloaded", str(e.exception))


class TranslatedRoute(Cases, unittest.TestCase):
    """Messages → an OpenAI-format (Ollama) upstream, translated both ways."""

    ROUTE = "t"
    EXPECT_ROUTE = "local/qwen2.5-coder:7b"


class NativeRoute(Cases, unittest.TestCase):
    """Messages → an Anthropic-format upstream, passed through."""

    ROUTE = "n"
    EXPECT_ROUTE = "claude/claude-sonnet-4-5"


if __name__ == "__main__":
    unittest.main(verbosity=2)
