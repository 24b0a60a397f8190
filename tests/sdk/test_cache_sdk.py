"""The official `openai` and `anthropic` Python SDKs against a Lodestar with its response cache
on (LODESTAR_BASE_URL: the proxy's root, no /v1). Run by tests/sdk_cache.rs, which counts the
requests that reached the upstream afterwards.

Each case asks once (a miss, answered by the upstream) and then again the other way — streamed
after JSON, JSON after streamed — and the SDK must see the same answer, its streaming code
running unchanged on the replayed stream.
"""
import os
import unittest

import anthropic
import openai

BASE = os.environ["LODESTAR_BASE_URL"]


def oa():
    return openai.OpenAI(base_url=BASE + "/v1", api_key="unused", max_retries=0)


def an():
    return anthropic.Anthropic(base_url=BASE, api_key="unused", max_retries=0)


class Cache(unittest.TestCase):
    def test_openai_json_then_stream(self):
        kw = dict(model="chat", temperature=0, messages=[{"role": "user", "content": "cache json first"}])
        raw = oa().chat.completions.with_raw_response.create(**kw)
        self.assertEqual(raw.headers["x-lodestar-cache"], "miss")
        first = raw.parse()
        text = "".join(
            c.choices[0].delta.content or ""
            for c in oa().chat.completions.create(stream=True, **kw)
            if c.choices
        )
        self.assertEqual(text, first.choices[0].message.content)

    def test_openai_stream_then_json(self):
        kw = dict(model="chat", temperature=0, messages=[{"role": "user", "content": "cache stream first"}])
        text = "".join(
            c.choices[0].delta.content or ""
            for c in oa().chat.completions.create(stream=True, **kw)
            if c.choices
        )
        raw = oa().chat.completions.with_raw_response.create(**kw)
        self.assertEqual(raw.headers["x-lodestar-cache"], "hit")
        self.assertEqual(raw.parse().choices[0].message.content, text)
        self.assertTrue(raw.parse().usage.prompt_tokens > 0)

    def test_anthropic_json_then_stream(self):
        # This SDK version no longer takes `temperature` as an argument; the API still does.
        kw = dict(model="claude", max_tokens=64, extra_body={"temperature": 0},
                  messages=[{"role": "user", "content": "anthropic cache"}])
        first = an().messages.create(**kw)
        with an().messages.stream(**kw) as s:
            final = s.get_final_message()
        self.assertEqual(final.content[0].text, first.content[0].text)
        self.assertEqual(final.usage.output_tokens, first.usage.output_tokens)

    def test_responses_stream_then_json(self):
        kw = dict(model="chat", temperature=0, input="responses cache", store=False)
        with oa().responses.stream(**kw) as s:
            streamed = s.get_final_response()
        again = oa().responses.create(**kw)
        self.assertEqual(again.output_text, streamed.output_text)
        self.assertEqual(again.id, streamed.id)

    def test_responses_json_then_stream(self):
        kw = dict(model="chat", temperature=0, input="responses json then stream", store=False)
        first = oa().responses.create(**kw)
        with oa().responses.stream(**kw) as s:
            final = s.get_final_response()
        self.assertEqual(final.output_text, first.output_text)
        self.assertEqual(final.id, first.id)


if __name__ == "__main__":
    unittest.main(verbosity=2)
