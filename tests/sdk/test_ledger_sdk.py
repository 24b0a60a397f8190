"""The official `openai` and `anthropic` Python SDKs against a Lodestar with a budget
(LODESTAR_BASE_URL: the proxy's root, no /v1).

Run by tests/sdk_ledger.rs, which starts the proxy with a $0.01 daily budget whose hard limit
is $0.005, and a test upstream whose `usage_openai` answers cost $0.00588 each. The first
request is admitted and spends past the limit; every later priced request must come back as a
402 the SDKs raise as their typed status error, with the budget named in the message. A free
(local) model still answers. Streams: a client that did not ask for usage sees none; one that
asked gets exactly one usage chunk, with the upstream's numbers.
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


def ask(client, model, **kw):
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hello there"}], **kw
    )


class Ledger(unittest.TestCase):
    # Named so that unittest runs them in this order (alphabetical).
    def test_1_streams_show_usage_only_when_asked(self):
        chunks = list(ask(oa(), "free-usage", stream=True))
        self.assertTrue(chunks)
        self.assertTrue(all(c.usage is None for c in chunks), chunks)
        chunks = list(
            ask(oa(), "free-usage", stream=True, stream_options={"include_usage": True})
        )
        with_usage = [c for c in chunks if c.usage is not None]
        self.assertEqual(len(with_usage), 1, chunks)
        self.assertEqual(with_usage[0].usage.prompt_tokens, 1000)
        self.assertEqual(with_usage[0].usage.prompt_tokens_details.cached_tokens, 600)

    def test_2_first_priced_request_is_admitted(self):
        r = ask(oa(), "priced")
        self.assertTrue(r.choices[0].message.content)

    def test_3_openai_sdk_raises_a_402_status_error(self):
        for stream in (False, True):
            with self.assertRaises(openai.APIStatusError) as cm:
                r = ask(oa(), "priced", stream=stream)
                if stream:
                    list(r)
            e = cm.exception
            self.assertEqual(e.status_code, 402)
            self.assertEqual(e.body["type"], "budget_exceeded")
            self.assertIn("budget `daily` is used up", e.message)
            self.assertIn("resets at", e.message)

    def test_4_anthropic_sdk_raises_a_402_status_error(self):
        for stream in (False, True):
            with self.assertRaises(anthropic.APIStatusError) as cm:
                kw = dict(
                    model="priced",
                    max_tokens=64,
                    messages=[{"role": "user", "content": "hello there"}],
                )
                if stream:
                    with an().messages.stream(**kw) as s:
                        s.get_final_message()
                else:
                    an().messages.create(**kw)
            e = cm.exception
            self.assertEqual(e.status_code, 402)
            self.assertEqual(e.body["error"]["type"], "billing_error")
            self.assertIn("budget `daily`", str(e))

    def test_5_free_models_still_answer(self):
        r = ask(oa(), "free")
        self.assertTrue(r.choices[0].message.content)
        m = an().messages.create(
            model="free", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        )
        self.assertTrue(m.content[0].text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
