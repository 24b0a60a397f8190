"""The official `openai` Python SDK against a running Lodestar (LODESTAR_BASE_URL, .../v1).

Run by tests/sdk_openai.rs, which starts the proxy and a test upstream first. The upstream
answers "echo: <last user text>" (plus " [images: K]"), turns `call: NAME {JSON}` lines into
tool calls, answers tool results with "tool results: ID=CONTENT; …", and misbehaves when the
model name asks it to. The `*-marker` words in the prompts let the harness find each request
upstream; `SIGNATURE <label> <sig>` lines on stdout name the thinking signatures it must find
again, byte for byte, in the follow-up request to the Anthropic-format upstream.
"""
import json
import os
import unittest

import openai

BASE = os.environ["LODESTAR_BASE_URL"]


def client():
    return openai.OpenAI(base_url=BASE, api_key="client-key-not-forwarded", max_retries=0)


def user(content):
    return {"role": "user", "content": content}


def function(name, description, properties, required):
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


TOOLS = [
    function("get_weather", "Current weather in a city", {"city": {"type": "string"}}, ["city"]),
    function(
        "get_time",
        "Local time in a city",
        {"city": {"type": "string"}, "format": {"type": "string"}},
        ["city"],
    ),
]
# A 1x1 PNG.
PNG_DATA_URL = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


class ChatTests(unittest.TestCase):
    def test_plain_chat(self):
        r = client().chat.completions.with_raw_response.create(
            model="fast", messages=[{"role": "user", "content": "hello sdk"}]
        )
        self.assertEqual(r.headers["x-lodestar-route"], "local/qwen2.5-coder:7b")
        self.assertTrue(r.headers["x-request-id"])
        c = r.parse()
        self.assertEqual(c.choices[0].message.content, "echo: hello sdk")
        self.assertEqual(c.choices[0].finish_reason, "stop")
        self.assertGreater(c.usage.total_tokens, 0)

    def test_streaming_chat_with_usage(self):
        stream = client().chat.completions.create(
            model="fast",
            messages=[{"role": "user", "content": "stream me please"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        text, usage = "", None
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
            if chunk.usage:
                usage = chunk.usage
        self.assertEqual(text, "echo: stream me please")
        self.assertIsNotNone(usage)
        self.assertGreater(usage.completion_tokens, 0)

    def test_chat_through_anthropic_translation(self):
        c = client().chat.completions.create(
            model="sonnet",
            messages=[{"role": "system", "content": "be kind"}, {"role": "user", "content": "hi claude"}],
        )
        self.assertEqual(c.choices[0].message.content, "echo: hi claude")
        text = "".join(
            ch.choices[0].delta.content or ""
            for ch in client().chat.completions.create(
                model="sonnet", messages=[{"role": "user", "content": "hi stream"}], stream=True
            )
            if ch.choices
        )
        self.assertEqual(text, "echo: hi stream")

    def test_cut_stream_raises(self):
        stream = client().chat.completions.create(
            model="u/m+drop_mid_stream", messages=[{"role": "user", "content": "a b c d"}], stream=True
        )
        with self.assertRaises(openai.APIError):
            for _ in stream:
                pass

    def test_unknown_model_is_a_not_found_error_naming_the_aliases(self):
        with self.assertRaises(openai.NotFoundError) as e:
            client().chat.completions.create(model="gpt-nope", messages=[{"role": "user", "content": "x"}])
        self.assertIn("fast", str(e.exception))
        self.assertEqual(e.exception.code, "model_not_found")


class AnthropicUpstreamTests(unittest.TestCase):
    """Chat Completions translated to an Anthropic-format upstream (`sonnet…` aliases)."""

    def test_tool_call_and_result_round_trip(self):
        messages = [user('openai-single-tool-marker\ncall: get_weather {"city": "Paris"}')]
        c = client().chat.completions.create(model="sonnet", tools=TOOLS, messages=messages)
        choice = c.choices[0]
        self.assertEqual(choice.finish_reason, "tool_calls")
        self.assertIsNone(choice.message.content)
        calls = choice.message.tool_calls
        self.assertEqual(len(calls), 1)
        self.assertEqual(calls[0].type, "function")
        self.assertEqual(calls[0].function.name, "get_weather")
        self.assertEqual(json.loads(calls[0].function.arguments), {"city": "Paris"})
        self.assertTrue(calls[0].id.startswith("toolu_"), calls[0].id)

        messages += [choice.message, {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny"}]
        c = client().chat.completions.create(model="sonnet", tools=TOOLS, messages=messages)
        self.assertEqual(c.choices[0].finish_reason, "stop")
        self.assertEqual(c.choices[0].message.content, f"tool results: {calls[0].id}=sunny")

    def test_parallel_tool_calls_and_results(self):
        messages = [
            user(
                "openai-parallel-tools-marker\n"
                'call: get_weather {"city": "Paris"}\n'
                'call: get_time {"city": "Tokyo", "format": "24h"}'
            )
        ]
        c = client().chat.completions.create(model="sonnet", tools=TOOLS, messages=messages)
        calls = c.choices[0].message.tool_calls
        self.assertEqual([t.function.name for t in calls], ["get_weather", "get_time"])
        self.assertEqual(json.loads(calls[1].function.arguments), {"city": "Tokyo", "format": "24h"})
        self.assertNotEqual(calls[0].id, calls[1].id)

        messages += [
            c.choices[0].message,
            {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny"},
            {"role": "tool", "tool_call_id": calls[1].id, "content": [{"type": "text", "text": "09:00"}]},
        ]
        c = client().chat.completions.create(model="sonnet", tools=TOOLS, messages=messages)
        self.assertEqual(
            c.choices[0].message.content, f"tool results: {calls[0].id}=sunny; {calls[1].id}=09:00"
        )

    def test_image_as_data_url(self):
        c = client().chat.completions.create(
            model="sonnet",
            messages=[
                user(
                    [
                        {"type": "text", "text": "what is this openai-image-marker"},
                        {"type": "image_url", "image_url": {"url": PNG_DATA_URL}},
                    ]
                )
            ],
        )
        self.assertEqual(c.choices[0].message.content, "echo: what is this openai-image-marker [images: 1]")

    def test_streaming_tool_calls(self):
        stream = client().chat.completions.create(
            model="sonnet",
            tools=TOOLS,
            stream=True,
            messages=[
                user(
                    "openai-stream-tools-marker\n"
                    'call: get_weather {"city": "Lima"}\n'
                    'call: get_time {"city": "Quito", "format": "12h"}'
                )
            ],
        )
        calls, finish = {}, None
        for chunk in stream:
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            for d in choice.delta.tool_calls or []:
                call = calls.setdefault(d.index, {"id": None, "name": "", "arguments": ""})
                if d.id:
                    self.assertIsNone(call["id"], "a call's id came twice")
                    call["id"] = d.id
                if d.function and d.function.name:
                    call["name"] += d.function.name
                if d.function and d.function.arguments:
                    call["arguments"] += d.function.arguments
            finish = choice.finish_reason or finish
        self.assertEqual(finish, "tool_calls")
        self.assertEqual(sorted(calls), [0, 1])
        self.assertEqual([calls[i]["name"] for i in (0, 1)], ["get_weather", "get_time"])
        self.assertEqual(json.loads(calls[0]["arguments"]), {"city": "Lima"})
        self.assertEqual(json.loads(calls[1]["arguments"]), {"city": "Quito", "format": "12h"})
        self.assertTrue(all(calls[i]["id"] for i in (0, 1)))

    def test_reasoning_with_tools_keeps_the_signature(self):
        messages = [user('openai-thinking-marker\ncall: get_weather {"city": "Oslo"}')]
        c = client().chat.completions.create(
            model="sonnet-think", reasoning_effort="low", tools=TOOLS, messages=messages
        )
        message = c.choices[0].message
        extra = message.model_extra
        self.assertEqual(extra["reasoning_content"], 'thinking about: openai-thinking-marker\ncall: get_weather {"city": "Oslo"}')
        blocks = extra["thinking_blocks"]
        self.assertEqual(len(blocks), 1, blocks)
        self.assertEqual(blocks[0]["type"], "thinking")
        self.assertEqual(blocks[0]["thinking"], extra["reasoning_content"])
        self.assertTrue(blocks[0]["signature"].startswith("sig-"), blocks[0])
        print(f"SIGNATURE openai-json {blocks[0]['signature']}", flush=True)
        self.assertEqual(message.tool_calls[0].function.name, "get_weather")
        self.assertEqual(c.choices[0].finish_reason, "tool_calls")

        # The assistant message goes back as received, `thinking_blocks` included.
        call_id = message.tool_calls[0].id
        messages += [message, {"role": "tool", "tool_call_id": call_id, "content": "snow"}]
        c = client().chat.completions.create(
            model="sonnet-think", reasoning_effort="low", tools=TOOLS, messages=messages
        )
        message = c.choices[0].message
        self.assertEqual(message.content, f"tool results: {call_id}=snow")
        self.assertEqual(message.model_extra["reasoning_content"], f"thinking about: tool results: {call_id}=snow")

    def test_streamed_reasoning_carries_the_signature(self):
        stream = client().chat.completions.create(
            model="sonnet-think",
            reasoning_effort="low",
            stream=True,
            messages=[user("openai-stream-thinking-marker")],
        )
        reasoning, text, signatures = "", "", []
        for chunk in stream:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            extra = delta.model_extra or {}
            reasoning += extra.get("reasoning_content") or ""
            text += delta.content or ""
            signatures += [b["signature"] for b in extra.get("thinking_blocks") or [] if b.get("signature")]
        self.assertEqual(reasoning, "thinking about: openai-stream-thinking-marker")
        self.assertEqual(text, "echo: openai-stream-thinking-marker")
        self.assertEqual(len(signatures), 1, signatures)
        self.assertTrue(signatures[0].startswith("sig-"), signatures)

    def test_streamed_usage_and_cached_tokens(self):
        # `cached_7`: Anthropic reports 7 cache-read tokens apart from the prompt's 4 words;
        # OpenAI's prompt_tokens includes them.
        c = client().chat.completions.create(model="sonnet-cached", messages=[user("count my cached tokens")])
        self.assertEqual(c.usage.prompt_tokens, 11)
        self.assertEqual(c.usage.prompt_tokens_details.cached_tokens, 7)
        self.assertEqual(c.usage.total_tokens, c.usage.prompt_tokens + c.usage.completion_tokens)
        usage = None
        for chunk in client().chat.completions.create(
            model="sonnet-cached",
            messages=[user("count my cached tokens")],
            stream=True,
            stream_options={"include_usage": True},
        ):
            usage = chunk.usage or usage
        self.assertIsNotNone(usage)
        self.assertEqual(usage.prompt_tokens, 11)
        self.assertEqual(usage.prompt_tokens_details.cached_tokens, 7)
        self.assertGreater(usage.completion_tokens, 0)

    def test_anthropic_400_is_a_bad_request(self):
        with self.assertRaises(openai.BadRequestError) as e:
            client().chat.completions.create(model="sonnet-bad", messages=[user("x")])
        self.assertEqual(e.exception.status_code, 400)
        self.assertIn("forced 400", str(e.exception))

    def test_cut_anthropic_stream_raises(self):
        stream = client().chat.completions.create(
            model="sonnet-broken", messages=[user("a b c d")], stream=True
        )
        text = ""
        with self.assertRaises(openai.APIError):
            for chunk in stream:
                if chunk.choices:
                    text += chunk.choices[0].delta.content or ""
        self.assertEqual(text, "c0 c1", "the chunks before the cut should arrive")


class OtherEndpointTests(unittest.TestCase):
    def test_embeddings(self):
        r = client().embeddings.create(model="u/text-embedding-3-small", input=["one", "two"])
        self.assertEqual(len(r.data), 2)
        self.assertEqual(len(r.data[0].embedding), 8)

    def test_models_list(self):
        ids = [m.id for m in client().models.list()]
        for want in ("auto", "fast", "sonnet", "local/llama3:8b"):
            self.assertIn(want, ids)

    def test_legacy_completions(self):
        r = client().completions.create(model="fast", prompt="complete this")
        self.assertEqual(r.choices[0].text, "echo: complete this")


if __name__ == "__main__":
    unittest.main(verbosity=2)
