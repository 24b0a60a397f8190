"""The official `openai` Python SDK against a running Lodestar (LODESTAR_BASE_URL, .../v1).

Run by tests/sdk_openai.rs, which starts the proxy and a test upstream first. The upstream
answers "echo: <last user text>" and misbehaves when the model name asks it to.
"""
import os
import unittest

import openai

BASE = os.environ["LODESTAR_BASE_URL"]


def client():
    return openai.OpenAI(base_url=BASE, api_key="client-key-not-forwarded", max_retries=0)


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
