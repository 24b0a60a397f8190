"""The official `openai` Python SDK's Responses API (`client.responses.*`) against a running
Lodestar (LODESTAR_BASE_URL, .../v1).

Run by tests/sdk_responses.rs, which starts the proxy and a test upstream first. Every case runs
on two route families: `fast…` (a chat-only, Ollama upstream) and `sonnet…` (an Anthropic
upstream), both translated from Responses. The upstream answers "echo: <last user text>",
turns `call: NAME {JSON}` lines into tool calls, answers tool results with
"tool results: ID=CONTENT; …", and misbehaves when the model name asks it to (`-think`,
`-cached` = cached_7, `-bad` = fail_400, `-broken` = drop_mid_stream+chunks_6, `-overloaded` =
error_mid_stream+chunks_6). The `resp-…-marker` words in the prompts let the harness find each
request upstream; it checks there what the SDK cannot see.
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


def function(name, description, properties, required, strict=False):
    return {
        "type": "function",
        "name": name,
        "description": description,
        "parameters": {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        },
        "strict": strict,
    }


def tools(strict=False):
    return [
        function("get_weather", "Current weather in a city", {"city": {"type": "string"}}, ["city"], strict),
        function(
            "get_time",
            "Local time in a city",
            {"city": {"type": "string"}, "format": {"type": "string"}},
            ["city", "format"],
            strict,
        ),
    ]


# The harness checks the same schema reached the chat upstream's `response_format`.
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}


def calls_of(response):
    return [o for o in response.output if o.type == "function_call"]


class Cases:
    """The cases, run on the route family `MODEL` (`fast` chat-only, `sonnet` Anthropic)."""

    MODEL = ""
    NAME = ""
    EXPECT_ROUTE = ""
    CALL_PREFIX = ""

    def model(self, knob=""):
        return self.MODEL + (f"-{knob}" if knob else "")

    def marker(self, what):
        return f"resp-{what}-{self.NAME}-marker"

    def create(self, **kw):
        kw.setdefault("model", self.model())
        return client().responses.create(**kw)

    # -- text ---------------------------------------------------------------------------------

    def test_text_with_instructions(self):
        mk = self.marker("text")
        r = self.create(
            instructions="answer briefly", input=f"hello {mk}", max_output_tokens=64, temperature=0.25
        )
        self.assertEqual(r.output_text, f"echo: hello {mk}")
        # The response repeats the request's settings, as OpenAI's does.
        self.assertEqual(r.instructions, "answer briefly")
        self.assertEqual(r.max_output_tokens, 64)
        self.assertEqual(r.temperature, 0.25)
        self.assertEqual(r.object, "response")
        self.assertTrue(r.id.startswith("resp_"), r.id)
        self.assertEqual(r.status, "completed")
        self.assertEqual(len(r.output), 1, r.output)
        msg = r.output[0]
        self.assertEqual(msg.type, "message")
        self.assertEqual(msg.role, "assistant")
        self.assertEqual(msg.content[0].type, "output_text")
        # Words stand in for tokens: "answer briefly" + "hello <marker>"; "echo: hello <marker>".
        self.assertEqual(r.usage.input_tokens, 4)
        self.assertEqual(r.usage.output_tokens, 3)
        self.assertEqual(r.usage.total_tokens, 7)
        self.assertEqual(r.usage.input_tokens_details.cached_tokens, 0)

    def test_raw_response_names_the_route(self):
        raw = client().responses.with_raw_response.create(model=self.model(), input="which route")
        self.assertEqual(raw.headers["x-lodestar-route"], self.EXPECT_ROUTE)
        self.assertTrue(raw.headers["x-request-id"])
        self.assertNotIn("x-lodestar-dropped", raw.headers)
        self.assertEqual(raw.parse().output_text, "echo: which route")

    def test_multi_turn_through_input_items(self):
        mk = self.marker("multi")
        items = [
            user(f"my name is Ada {mk}"),
            {"role": "assistant", "content": "nice to meet you, Ada"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "what is my name?"}]},
        ]
        r = self.create(input=items)
        self.assertEqual(r.output_text, "echo: what is my name?")
        # The SDK's own output items go back as input, as its docs show.
        items += r.output
        items.append(user("say it once more"))
        r = self.create(input=items)
        self.assertEqual(r.output_text, "echo: say it once more")

    def test_multi_turn_through_previous_response_id(self):
        mk = self.marker("previous")
        first = self.create(instructions="be brief", input=f"remember this {mk}")
        self.assertEqual(first.output_text, f"echo: remember this {mk}")
        second = self.create(input="and now this", previous_response_id=first.id)
        self.assertEqual(second.output_text, "echo: and now this")
        self.assertNotEqual(second.id, first.id)
        # A chain: the third turn carries both earlier ones (the harness checks the upstream).
        third = self.create(input="and finally this", previous_response_id=second.id)
        self.assertEqual(third.output_text, "echo: and finally this")
        # Streamed turns chain too: the id comes from response.completed.
        with client().responses.stream(
            model=self.model(), input="streamed turn", previous_response_id=third.id
        ) as stream:
            final = stream.get_final_response()
        self.assertEqual(final.output_text, "echo: streamed turn")
        fourth = self.create(input="after the stream", previous_response_id=final.id)
        self.assertEqual(fourth.output_text, "echo: after the stream")

    def test_tool_output_through_previous_response_id(self):
        mk = self.marker("prevtool")
        r = self.create(tools=tools(), input=[user(f'{mk}\ncall: get_weather {{"city": "Oslo"}}')])
        call = calls_of(r)[0]
        r = self.create(
            tools=tools(),
            previous_response_id=r.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "snow"}],
        )
        self.assertEqual(r.output_text, f"tool results: {call.call_id}=snow")

    def test_stored_responses_can_be_read_and_deleted(self):
        mk = self.marker("stored")
        r = self.create(input=f"keep me {mk}")
        got = client().responses.retrieve(r.id)
        self.assertEqual(got.id, r.id)
        self.assertEqual(got.output_text, f"echo: keep me {mk}")
        items = client().responses.input_items.list(r.id)
        self.assertEqual(len(items.data), 1)
        deleted = client().responses.delete(r.id)
        self.assertIsNone(deleted)  # the SDK returns None for a successful delete
        with self.assertRaises(openai.NotFoundError):
            client().responses.retrieve(r.id)
        with self.assertRaises(openai.NotFoundError) as e:
            self.create(input="x", previous_response_id=r.id)
        self.assertEqual(e.exception.param, "previous_response_id")

    def test_unknown_or_unstored_previous_response_id_is_not_found(self):
        with self.assertRaises(openai.NotFoundError) as e:
            self.create(input="x", previous_response_id="resp_never_made")
        self.assertEqual(e.exception.status_code, 404)
        self.assertEqual(e.exception.code, "previous_response_not_found")
        self.assertIn("resp_never_made", e.exception.message)
        # `store: false` (what Codex sends): the answer is not kept.
        r = self.create(input="do not keep", store=False)
        with self.assertRaises(openai.NotFoundError):
            self.create(input="x", previous_response_id=r.id)

    # -- tools --------------------------------------------------------------------------------

    def test_tool_call_and_its_output(self):
        mk = self.marker("tool")
        items = [user(f'{mk}\ncall: get_weather {{"city": "Paris"}}')]
        r = self.create(tools=tools(), input=items)
        self.assertEqual(r.status, "completed")
        self.assertEqual(r.output_text, "")
        self.assertEqual([t.name for t in r.tools], ["get_weather", "get_time"])
        calls = calls_of(r)
        self.assertEqual(len(calls), 1, r.output)
        self.assertEqual([o.type for o in r.output], ["function_call"])
        call = calls[0]
        self.assertEqual(call.name, "get_weather")
        self.assertEqual(json.loads(call.arguments), {"city": "Paris"})
        self.assertTrue(call.call_id.startswith(self.CALL_PREFIX), call.call_id)
        self.assertTrue(call.id, call)

        items += r.output
        items.append({"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21C"})
        r = self.create(tools=tools(), input=items)
        self.assertEqual(r.output_text, f"tool results: {call.call_id}=sunny, 21C")
        self.assertEqual(calls_of(r), [])

    def test_parallel_tool_calls_and_outputs(self):
        mk = self.marker("parallel")
        items = [
            user(
                f"{mk}\n"
                'call: get_weather {"city": "Paris"}\n'
                'call: get_time {"city": "Tokyo", "format": "24h"}'
            )
        ]
        r = self.create(tools=tools(), tool_choice="required", input=items)
        calls = calls_of(r)
        self.assertEqual([c.name for c in calls], ["get_weather", "get_time"])
        self.assertEqual(json.loads(calls[0].arguments), {"city": "Paris"})
        self.assertEqual(json.loads(calls[1].arguments), {"city": "Tokyo", "format": "24h"})
        self.assertNotEqual(calls[0].call_id, calls[1].call_id)
        self.assertNotEqual(calls[0].id, calls[1].id)

        # Hand-written items this time, as a client that keeps its own history would.
        items += [
            {"type": "function_call", "call_id": c.call_id, "name": c.name, "arguments": c.arguments}
            for c in calls
        ]
        items += [
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"},
            {"type": "function_call_output", "call_id": calls[1].call_id, "output": "09:00"},
        ]
        r = self.create(tools=tools(), input=items)
        self.assertEqual(r.output_text, f"tool results: {calls[0].call_id}=sunny; {calls[1].call_id}=09:00")

    def test_hosted_tool_is_dropped_and_named(self):
        mk = self.marker("hosted")
        raw = client().responses.with_raw_response.create(
            model=self.model(),
            input=f"search something {mk}",
            tools=[{"type": "web_search"}, tools()[0]],
        )
        self.assertEqual(raw.headers["x-lodestar-dropped"], "tool type `web_search`")
        r = raw.parse()
        self.assertEqual(r.status, "completed")
        self.assertEqual(r.output_text, f"echo: search something {mk}")

    # -- reasoning ----------------------------------------------------------------------------

    def test_reasoning_then_a_tool_round_trip(self):
        mk = self.marker("reasoning")
        prompt = f'{mk}\ncall: get_weather {{"city": "Oslo"}}'
        items = [user(prompt)]
        r = self.create(model=self.model("think"), reasoning={"effort": "low"}, tools=tools(), input=items)
        self.assertEqual([o.type for o in r.output], ["reasoning", "function_call"])
        self.assertEqual(r.output[0].summary[0].type, "summary_text")
        self.assertEqual(r.output[0].summary[0].text, f"thinking about: {prompt}")
        call = r.output[1]
        self.assertEqual(call.name, "get_weather")

        items += r.output
        items.append({"type": "function_call_output", "call_id": call.call_id, "output": "snow"})
        r = self.create(model=self.model("think"), reasoning={"effort": "low"}, tools=tools(), input=items)
        self.assertEqual(r.output_text, f"tool results: {call.call_id}=snow")

    # -- streams ------------------------------------------------------------------------------

    def assert_well_formed(self, events):
        types = [e.type for e in events]
        self.assertEqual(types[:2], ["response.created", "response.in_progress"], types)
        self.assertEqual([e.sequence_number for e in events], list(range(len(events))), types)
        return types

    def test_stream_text(self):
        mk = self.marker("stream-text")
        with client().responses.stream(
            model=self.model(), instructions="be brief", input=f"stream this {mk}"
        ) as stream:
            events = list(stream)
            final = stream.get_final_response()
        types = self.assert_well_formed(events)
        self.assertEqual(types[-1], "response.completed")
        for t in ("response.output_item.added", "response.content_part.added",
                  "response.output_text.done", "response.content_part.done", "response.output_item.done"):
            self.assertIn(t, types)
        want = f"echo: stream this {mk}"
        deltas = [e for e in events if e.type == "response.output_text.delta"]
        self.assertGreater(len(deltas), 1)
        self.assertEqual("".join(d.delta for d in deltas), want)
        # The SDK's running snapshot.
        self.assertEqual(deltas[-1].snapshot, want)
        done = [e for e in events if e.type == "response.output_text.done"]
        self.assertEqual([d.text for d in done], [want])
        self.assertEqual(len({d.item_id for d in deltas}), 1)
        self.assertEqual(final.output_text, want)
        self.assertEqual(final.status, "completed")
        self.assertEqual(final.output[0].id, deltas[0].item_id)
        self.assertGreater(final.usage.input_tokens, 0)
        self.assertGreater(final.usage.output_tokens, 0)

    def test_create_with_stream_true(self):
        mk = self.marker("stream-create")
        events = list(self.create(input=f"raw events {mk}", stream=True))
        types = self.assert_well_formed(events)
        self.assertEqual(types[-1], "response.completed")
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        self.assertEqual(text, f"echo: raw events {mk}")
        self.assertEqual(events[-1].response.output_text, text)

    def test_stream_tool_calls(self):
        mk = self.marker("stream-tools")
        items = [
            user(
                f"{mk}\n"
                'call: get_weather {"city": "Lima"}\n'
                'call: get_time {"city": "Quito", "format": "12h"}'
            )
        ]
        with client().responses.stream(model=self.model(), tools=tools(strict=True), input=items) as stream:
            events = list(stream)
            final = stream.get_final_response()
        types = self.assert_well_formed(events)
        self.assertEqual(types[-1], "response.completed")
        want = [{"city": "Lima"}, {"city": "Quito", "format": "12h"}]

        calls = calls_of(final)
        self.assertEqual([c.name for c in calls], ["get_weather", "get_time"])
        self.assertEqual([json.loads(c.arguments) for c in calls], want)
        # Strict tools: the SDK parses the arguments itself.
        self.assertEqual([c.parsed_arguments for c in calls], want)
        self.assertTrue(all(c.call_id.startswith(self.CALL_PREFIX) for c in calls), calls)

        added = [e.item for e in events if e.type == "response.output_item.added"]
        self.assertEqual([(a.type, a.name, a.call_id) for a in added],
                         [("function_call", c.name, c.call_id) for c in calls])
        for i, c in enumerate(calls):
            deltas = [e for e in events
                      if e.type == "response.function_call_arguments.delta" and e.item_id == c.id]
            self.assertGreater(len(deltas), 1, "arguments should stream in pieces")
            self.assertEqual("".join(d.delta for d in deltas), c.arguments)
            # The SDK reassembled the arguments as they came.
            self.assertEqual(json.loads(deltas[-1].snapshot), want[i])
        done = [e for e in events if e.type == "response.function_call_arguments.done"]
        self.assertEqual([d.item_id for d in done], [c.id for c in calls])
        self.assertEqual([json.loads(d.arguments) for d in done], want)
        self.assertEqual([d.name for d in done], ["get_weather", "get_time"])

        # The next turn, streamed too, with the SDK's parsed items sent back as they are.
        items += final.output
        items += [
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": "warm"},
            {"type": "function_call_output", "call_id": calls[1].call_id, "output": "3pm"},
        ]
        with client().responses.stream(model=self.model(), tools=tools(strict=True), input=items) as stream:
            text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
            final = stream.get_final_response()
        want_text = f"tool results: {calls[0].call_id}=warm; {calls[1].call_id}=3pm"
        self.assertEqual(text, want_text)
        self.assertEqual(final.output_text, want_text)

    def test_stream_reasoning(self):
        mk = self.marker("stream-reasoning")
        with client().responses.stream(
            model=self.model("think"), reasoning={"effort": "low"}, input=f"think {mk}"
        ) as stream:
            events = list(stream)
            final = stream.get_final_response()
        self.assert_well_formed(events)
        summary = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
        self.assertEqual(summary, f"thinking about: think {mk}")
        self.assertEqual([o.type for o in final.output], ["reasoning", "message"])
        self.assertEqual(final.output[0].summary[0].text, summary)
        self.assertEqual(final.output_text, f"echo: think {mk}")

    def assert_broken_stream(self, knob):
        """A broken stream ends as OpenAI ends one: a `response.failed` event, which the SDK hands
        over as an event (it raises only on an `error` key at the top of an event), and no final
        response: `get_final_response()` raises."""
        with client().responses.stream(model=self.model(knob), input="a b c d") as stream:
            events = list(stream)
            with self.assertRaises(RuntimeError) as e:
                stream.get_final_response()
        self.assertIn("response.completed", str(e.exception))
        types = self.assert_well_formed(events)
        self.assertNotIn("response.completed", types)
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        self.assertEqual(text, "c0 c1", "the chunks before the cut should arrive")
        self.assertEqual(types[-1], "response.failed", types)
        failed = events[-1].response
        self.assertEqual(failed.status, "failed")
        self.assertEqual(failed.error.code, "server_error")
        self.assertTrue(failed.error.message)

    def test_a_stream_cut_mid_way_fails(self):
        self.assert_broken_stream("broken")

    def test_an_in_band_stream_error_fails(self):
        self.assert_broken_stream("overloaded")

    # -- usage and errors ---------------------------------------------------------------------

    def test_cached_tokens(self):
        # `cached_7`: 7 cached prompt tokens on top of the prompt's 4 words; Responses'
        # input_tokens includes them.
        r = self.create(model=self.model("cached"), input="count my cached tokens")
        self.assertEqual(r.usage.input_tokens, 11)
        self.assertEqual(r.usage.input_tokens_details.cached_tokens, 7)
        self.assertEqual(r.usage.output_tokens, 5)
        self.assertEqual(r.usage.total_tokens, 16)
        with client().responses.stream(model=self.model("cached"), input="count my cached tokens") as stream:
            usage = stream.get_final_response().usage
        self.assertEqual(usage.input_tokens, 11)
        self.assertEqual(usage.input_tokens_details.cached_tokens, 7)
        self.assertEqual(usage.output_tokens, 5)

    def test_upstream_400_is_a_bad_request(self):
        with self.assertRaises(openai.BadRequestError) as e:
            self.create(model=self.model("bad"), input="x")
        self.assertEqual(e.exception.status_code, 400)
        self.assertIn("forced 400", str(e.exception))

    def test_upstream_400_on_a_stream_is_a_bad_request(self):
        with self.assertRaises(openai.BadRequestError) as e:
            with client().responses.stream(model=self.model("bad"), input="x") as stream:
                list(stream)
        self.assertIn("forced 400", str(e.exception))


class ChatOnlyRoute(Cases, unittest.TestCase):
    """Responses → an Ollama (Chat Completions) upstream."""

    MODEL = "fast"
    NAME = "chat"
    EXPECT_ROUTE = "local/qwen2.5-coder:7b"
    CALL_PREFIX = "call_"

    def test_structured_output_becomes_response_format(self):
        mk = self.marker("structured")
        r = self.create(
            input=f"answer in json {mk}",
            text={"format": {"type": "json_schema", "name": "x", "schema": SCHEMA, "strict": True}},
        )
        # The upstream is no model: it echoes whatever format was asked.
        self.assertEqual(r.output_text, f"echo: answer in json {mk}")


class AnthropicRoute(Cases, unittest.TestCase):
    """Responses → an Anthropic (Messages) upstream."""

    MODEL = "sonnet"
    NAME = "anthropic"
    EXPECT_ROUTE = "claude/claude-sonnet-4-5"
    CALL_PREFIX = "toolu_"

    def test_structured_output_is_refused(self):
        mk = self.marker("structured")
        with self.assertRaises(openai.BadRequestError) as e:
            self.create(
                input=f"answer in json {mk}",
                text={"format": {"type": "json_schema", "name": "x", "schema": SCHEMA, "strict": True}},
            )
        self.assertEqual(e.exception.param, "text.format")
        self.assertIn("structured output", e.exception.body["message"])


class RoutingErrors(unittest.TestCase):
    def test_unknown_model_is_a_not_found_error(self):
        with self.assertRaises(openai.NotFoundError) as e:
            client().responses.create(model="gpt-nope", input="x")
        self.assertEqual(e.exception.status_code, 404)
        self.assertEqual(e.exception.code, "model_not_found")
        self.assertIn("fast", str(e.exception))

    def test_unknown_model_on_a_stream_is_a_not_found_error(self):
        with self.assertRaises(openai.NotFoundError):
            with client().responses.stream(model="gpt-nope", input="x") as stream:
                list(stream)


if __name__ == "__main__":
    unittest.main(verbosity=2)
